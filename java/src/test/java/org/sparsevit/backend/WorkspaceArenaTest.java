package org.sparsevit.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;

/** Recording, planning and replay of the workspace arena, on fake slab memory (addresses are numbers). */
class WorkspaceArenaTest {

    /** Slabs at distinct, widely spaced fake addresses; counts what was allocated and freed. */
    static final class FakeMemory implements WorkspaceArena.SlabMemory<Long> {
        final List<Long> allocated = new ArrayList<>();
        final List<Long> freed = new ArrayList<>();

        @Override
        public Long allocate(long bytes) {
            long base = (allocated.size() + 1L) << 40;
            allocated.add(base);
            return base;
        }

        @Override
        public void free(Long slab, long bytes) {
            freed.add(slab);
        }
    }

    /** A tensor made from a grant: its address range (slab or a fake pool address) and its release. */
    static final class Buf {
        final WorkspaceArena<Long>.Grant grant;
        final long address;
        final long bytes;

        Buf(WorkspaceArena<Long>.Grant grant, long bytes, long poolAddress) {
            this.grant = grant;
            this.bytes = bytes;
            this.address = grant != null && grant.slab() != null ? grant.slab() + grant.offset() : poolAddress;
        }

        boolean fromSlab() {
            return grant != null && grant.slab() != null;
        }

        void close() {
            if (grant != null) {
                grant.release();
            }
        }
    }

    final FakeMemory mem = new FakeMemory();
    final WorkspaceArena<Long> arena = new WorkspaceArena<>("test", mem);
    final List<String> notes = new ArrayList<>();
    long nextPool = 1;

    WorkspaceArenaTest() {
        arena.setWarnings(notes::add);
    }

    Buf alloc(long bytes) {
        return new Buf(arena.request(bytes), bytes, nextPool++);
    }

    /**
     * One "forward": a, b live; a freed; c allocated; returns the escaping output (allocated first, never freed
     * in the scope). All live buffers are checked for overlap on the way.
     */
    List<Buf> forward(Object key, boolean finish) {
        List<Buf> live = new ArrayList<>();
        Buf out;
        try (Workspace w = arena.open(key)) {
            out = alloc(4096);
            Buf a = alloc(1000);
            Buf b = alloc(3000);
            live.add(a);
            live.add(b);
            checkDisjoint(live);
            a.close();
            live.remove(a);
            Buf c = alloc(900);
            live.add(c);
            checkDisjoint(live);
            Buf d = alloc(5000);
            live.add(d);
            checkDisjoint(live);
            b.close();
            c.close();
            d.close();
            if (finish) {
                w.finished();
            }
        }
        return List.of(out);
    }

    static void checkDisjoint(List<Buf> live) {
        for (int i = 0; i < live.size(); i++) {
            for (int j = i + 1; j < live.size(); j++) {
                Buf x = live.get(i);
                Buf y = live.get(j);
                if (x.fromSlab() && y.fromSlab()) {
                    assertFalse(x.address < y.address + y.bytes && y.address < x.address + x.bytes,
                            "live slab buffers overlap");
                }
            }
        }
    }

    @Test
    void firstRunRecordsLaterRunsReplayFromOneSlab() {
        List<Buf> out = forward("k", true);
        assertFalse(out.get(0).fromSlab());
        ArenaPlan p = arena.plan("k");
        assertNotNull(p);
        assertEquals(4, p.count(), "the output escaped the scope and is not planned");
        assertEquals(1, mem.allocated.size());
        MemoryStats s = arena.stats();
        assertEquals(1, s.recordings());
        assertEquals(1, s.slabs());
        assertEquals(p.slabBytes(), s.slabBytes());
        long allocations = s.deviceAllocations();
        out.forEach(Buf::close);
        for (int run = 0; run < 3; run++) {
            List<Buf> o = forward("k", true);
            assertFalse(o.get(0).fromSlab(), "the escaping output comes from the pool on replay too");
            o.forEach(Buf::close);
        }
        s = arena.stats();
        assertEquals(allocations, s.deviceAllocations(), "replays allocate nothing");
        assertEquals(3, s.replays());
        assertEquals(12, s.slabGrants());
        assertEquals(0, s.divergences());
        assertTrue(notes.isEmpty(), notes.toString());
    }

    @Test
    void aRunThatFailsIsNotPlanned() {
        forward("k", false);
        assertNull(arena.plan("k"));
        assertEquals(0, mem.allocated.size());
        forward("k", true);
        assertNotNull(arena.plan("k"));
    }

    @Test
    void aDifferentSizeFallsBackToThePoolAndSaysSoOnce() {
        forward("k", true);
        for (int run = 0; run < 2; run++) {
            try (Workspace w = arena.open("k")) {
                alloc(4096).close();
                Buf a = alloc(1000);
                assertTrue(a.fromSlab());
                Buf b = alloc(3001); // not the recorded 3000
                assertFalse(b.fromSlab());
                Buf c = alloc(900);
                assertFalse(c.fromSlab(), "after a divergence the rest of the run comes from the pool");
                a.close();
                b.close();
                c.close();
                w.finished();
            }
        }
        assertEquals(2, arena.stats().divergences());
        assertEquals(1, notes.size(), notes.toString());
        assertTrue(notes.get(0).contains("asks for 3001 bytes, the plan has 3000"), notes.get(0));
        // a run that matches again gets the slab again
        forward("k", true).forEach(Buf::close);
        assertEquals(2, arena.stats().divergences());
    }

    @Test
    void aBufferHeldLongerThanPlannedIsNeverOverlapped() {
        // record: x freed before y is allocated, so the plan may put y on x
        try (Workspace w = arena.open("k")) {
            alloc(8192).close();
            alloc(8192).close();
            w.finished();
        }
        ArenaPlan p = arena.plan("k");
        assertTrue(p.overlapInSlab(0, 1), "the planner reuses x's memory for y");
        try (Workspace w = arena.open("k")) {
            Buf x = alloc(8192);
            Buf y = alloc(8192); // x still open
            assertTrue(x.fromSlab());
            assertFalse(y.fromSlab(), "y would overlap the live x");
            x.close();
            y.close();
            w.finished();
        }
        assertEquals(1, arena.stats().divergences());
        assertTrue(notes.get(0).contains("still open"), notes.get(0));
    }

    @Test
    void moreAllocationsThanPlannedGoToThePool() {
        forward("k", true);
        try (Workspace w = arena.open("k")) {
            List<Buf> all = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                all.add(alloc(new long[]{4096, 1000, 3000, 900, 5000}[i]));
                if (i == 1) {
                    all.get(1).close();
                }
            }
            Buf extra = alloc(64);
            assertFalse(extra.fromSlab());
            all.forEach(Buf::close);
            extra.close();
            w.finished();
        }
        assertEquals(1, arena.stats().divergences());
        assertTrue(notes.get(0).contains("beyond"), notes.get(0));
    }

    @Test
    void aSlabTensorOutlivingItsScopeReservesTheSlab() {
        try (Workspace w = arena.open("k")) {
            alloc(1000).close();
            w.finished();
        }
        Buf leaked;
        try (Workspace w = arena.open("k")) {
            leaked = alloc(1000); // recorded as closed inside the scope, now kept open
            assertTrue(leaked.fromSlab());
            w.finished();
        }
        try (Workspace w = arena.open("k")) {
            Buf b = alloc(1000);
            assertFalse(b.fromSlab(), "the slab still holds the leaked tensor");
            b.close();
            w.finished();
        }
        assertEquals(1, notes.size(), "said once: " + notes);
        leaked.close();
        try (Workspace w = arena.open("k")) {
            Buf b = alloc(1000);
            assertTrue(b.fromSlab(), "usable again once the tensor is closed");
            b.close();
            w.finished();
        }
    }

    @Test
    void nestedScopesJoinTheOuterOne() {
        try (Workspace w = arena.open("outer")) {
            try (Workspace inner = arena.open("inner")) {
                assertSame(Workspace.NONE, inner);
                alloc(100).close();
            }
            alloc(200).close();
            w.finished();
        }
        assertEquals(2, arena.plan("outer").count());
        assertNull(arena.plan("inner"));
        assertNull(arena.request(100), "no scope, no grant");
    }

    @Test
    void evictionFreesSlabsButAHoldKeepsItsOwn() {
        arena.setCapacity(1);
        forward("a", true).forEach(Buf::close);
        arena.beginCapture();
        forward("a", true).forEach(Buf::close); // replayed while capturing: the hold keeps a's slab
        WorkspaceArena<Long>.Hold hold = arena.endCapture();
        assertTrue(hold.bytes() > 0);
        forward("b", true).forEach(Buf::close); // evicts a
        assertNull(arena.plan("a"));
        assertTrue(mem.freed.isEmpty(), "a's slab is held by the graph");
        assertEquals(2, arena.stats().slabs());
        hold.checkIdle();
        hold.close();
        assertEquals(List.of(mem.allocated.get(0)), mem.freed);
        forward("c", true).forEach(Buf::close); // evicts b, which nothing holds
        assertEquals(2, mem.freed.size());
        assertEquals(1, arena.stats().slabs());
        arena.close();
        assertEquals(3, mem.freed.size());
        assertEquals(0, arena.stats().slabBytes());
        assertThrows(IllegalStateException.class, () -> arena.open("a"));
    }

    @Test
    void aHoldRefusesToReplayOverLiveData() {
        forward("a", true).forEach(Buf::close);
        arena.beginCapture();
        forward("a", true).forEach(Buf::close);
        WorkspaceArena<Long>.Hold hold = arena.endCapture();
        try (Workspace w = arena.open("a")) {
            assertThrows(IllegalStateException.class, hold::checkIdle);
            Buf x = alloc(4096);
            x.close();
        }
        hold.checkIdle();
        hold.close();
    }

    @Test
    void aKeyInUseOnAnotherThreadGivesThatThreadThePool() throws Exception {
        forward("k", true).forEach(Buf::close);
        CountDownLatch opened = new CountDownLatch(1);
        CountDownLatch done = new CountDownLatch(1);
        AtomicReference<Boolean> otherFromSlab = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                opened.await();
                try (Workspace w = arena.open("k")) {
                    Buf b = new Buf(arena.request(4096), 4096, -1);
                    Buf c = new Buf(arena.request(1000), 1000, -2);
                    otherFromSlab.set(b.fromSlab() || c.fromSlab());
                    b.close();
                    c.close();
                    w.finished();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                done.countDown();
            }
        });
        t.start();
        try (Workspace w = arena.open("k")) {
            Buf out = alloc(4096);
            Buf a = alloc(1000);
            assertTrue(a.fromSlab());
            opened.countDown();
            done.await();
            Buf b = alloc(3000);
            a.close();
            Buf c = alloc(900);
            Buf d = alloc(5000);
            assertTrue(b.fromSlab() && c.fromSlab() && d.fromSlab());
            for (Buf x : List.of(out, b, c, d)) {
                x.close();
            }
            w.finished();
        }
        t.join();
        assertEquals(Boolean.FALSE, otherFromSlab.get());
        assertTrue(notes.isEmpty(), notes.toString());
    }

    @Test
    void noSlabIsAllocatedWhileCapturing() {
        arena.beginCapture();
        forward("k", true).forEach(Buf::close); // recorded during the capture: planned, but no allocation
        WorkspaceArena<Long>.Hold hold = arena.endCapture();
        assertNotNull(arena.plan("k"));
        assertTrue(mem.allocated.isEmpty());
        assertEquals(0, hold.bytes(), "the captured run used the pool, not a slab");
        hold.close();
        forward("k", true).forEach(Buf::close);
        assertEquals(1, mem.allocated.size(), "the first run outside the capture allocates the slab");
        assertEquals(1, arena.stats().replays());
    }

    @Test
    void disabledArenaDoesNothing() {
        arena.setEnabled(false);
        assertSame(Workspace.NONE, arena.open("k"));
        assertNull(arena.request(10));
        arena.setEnabled(true);
        forward("k", true);
        assertNotNull(arena.plan("k"));
    }
}
