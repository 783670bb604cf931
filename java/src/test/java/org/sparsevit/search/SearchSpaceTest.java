package org.sparsevit.search;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashSet;
import java.util.Random;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.sparsevit.SparseVitException;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.sparse.SparsityConfig;

/** The search space: pairs, levels, order within stages, operators. */
class SearchSpaceTest {
    static final SearchSpace T = SearchSpace.of(SwinConfig.preset("swin-t"));

    @Test
    void swinTHasSixPairsAndTheOfficialLevels() {
        assertEquals(6, T.genes());
        assertArrayEquals(new double[]{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8}, T.levels());
        // stages of 1, 1, 3 and 1 pairs: 9 * 9 * C(11, 3) * 9
        assertEquals(9L * 9 * 165 * 9, T.size());
        assertArrayEquals(new int[]{0, 0}, T.geneBlock(0));
        assertArrayEquals(new int[]{1, 0}, T.geneBlock(1));
        assertArrayEquals(new int[]{2, 0}, T.geneBlock(2));
        assertArrayEquals(new int[]{2, 4}, T.geneBlock(4));
        assertArrayEquals(new int[]{3, 0}, T.geneBlock(5));
        assertThrows(IndexOutOfBoundsException.class, () -> T.geneBlock(6));
    }

    @Test
    void candidatesConvertToPairedNonDecreasingRatios() {
        Candidate c = Candidate.of(3, 0, 1, 2, 5, 8);
        SparsityConfig sp = T.toSparsity(c);
        assertEquals("0.3,0.3/0,0/0.1,0.1,0.2,0.2,0.5,0.5/0.8,0.8", sp.toCompact());
        sp.checkSearchSpace();
        sp.validate(SwinConfig.preset("swin-t"));
        assertEquals(c, T.candidate(sp));
        assertEquals(c, T.candidate(SparsityConfig.parseCompact(sp.toCompact())));
        assertArrayEquals(sp.ratios()[2], T.ratios(c)[2]);
        // not a point of the space
        assertThrows(SparseVitException.class, () -> T.toSparsity(Candidate.of(3, 0, 5, 2, 1, 8)));
        assertThrows(SparseVitException.class, () -> T.toSparsity(Candidate.of(3, 0, 1, 2, 5, 9)));
        assertThrows(SparseVitException.class, () -> T.toSparsity(Candidate.of(3, 0, 1)));
        assertThrows(SparseVitException.class,
                () -> T.candidate(SparsityConfig.parseCompact("0.25,0.25/0,0/0,0,0,0,0,0/0,0")));
        assertThrows(SparseVitException.class,
                () -> T.candidate(SparsityConfig.parseCompact("0.3,0.2/0,0/0,0,0,0,0,0/0,0")));
        assertEquals(Candidate.of(3, 0, 1, 2, 5, 8), T.normalize(Candidate.of(3, 0, 5, 2, 1, 8)));
    }

    @Test
    void operatorsStayInTheSpaceAndUseOnlyTheGivenGenerator() {
        Random r = new Random(1);
        Set<Candidate> seen = new LinkedHashSet<>();
        for (int i = 0; i < 2000; i++) {
            Candidate a = T.check(T.random(r));
            Candidate b = T.check(T.random(r));
            T.check(T.mutate(a, 0.5, r));
            Candidate x = T.check(T.crossover(a, b, r));
            for (int g = 0; g < x.size(); g++) {
                // a crossover child's multiset per stage comes from its parents' genes
                assertTrue(contains(a, x.gene(g)) || contains(b, x.gene(g)));
            }
            seen.add(a);
        }
        assertTrue(seen.size() > 1900, "random draws repeat too often: " + seen.size());
        assertEquals(T.random(new Random(7)), T.random(new Random(7)));
        Candidate p = T.random(new Random(3));
        assertEquals(p, T.mutate(p, 0, new Random(4)));
        assertNotEquals(p, T.mutate(p, 1, new Random(4)));
        // as in the official search, a mutated gene comes from a fresh random configuration (sorted within its
        // stages), not from a uniform draw of its own: with p = 1 the child is that configuration
        for (int seed = 0; seed < 20; seed++) {
            assertEquals(T.random(new Random(seed)), T.mutate(p, 1, new Random(seed)), "seed " + seed);
        }
    }

    private static boolean contains(Candidate c, int level) {
        for (int g = 0; g < c.size(); g++) {
            if (c.gene(g) == level) {
                return true;
            }
        }
        return false;
    }

    @Test
    void badSpacesAreRefused() {
        assertThrows(SparseVitException.class, () -> new SearchSpace(new int[]{2, 3}, SearchSpace.defaultLevels()));
        assertThrows(SparseVitException.class, () -> new SearchSpace(new int[]{2, 2}, new double[]{0, 0.5, 0.4}));
        assertThrows(SparseVitException.class, () -> new SearchSpace(new int[]{2, 2}, new double[]{0, 1.5}));
        assertThrows(SparseVitException.class, () -> new SearchSpace(new int[]{2, 2}, new double[0]));
        assertArrayEquals(new double[]{0, 0.25, 0.5}, SearchSpace.parseLevels("0, 0.25,0.5"));
        assertThrows(SparseVitException.class, () -> SearchSpace.parseLevels("0,x"));
        // the option is shared by search and latency: its errors name the option, not a command
        assertEquals("--levels '0.5,0': levels must be increasing values in [0, 1], got [0.5, 0.0]",
                assertThrows(SparseVitException.class, () -> SearchSpace.parseLevels("0.5,0")).getMessage());
        assertEquals("--levels '0,1.5': levels must be increasing values in [0, 1], got [0.0, 1.5]",
                assertThrows(SparseVitException.class, () -> SearchSpace.parseLevels("0,1.5")).getMessage());
        assertEquals("--levels '0,x' are not comma-separated numbers (e.g. 0,0.1,0.2)",
                assertThrows(SparseVitException.class, () -> SearchSpace.parseLevels("0,x")).getMessage());
        assertThrows(SparseVitException.class, () -> SearchSpace.parseLevels("0,0.5,"));
    }
}
