package org.sparsevit.backend;

import java.lang.reflect.Method;

/**
 * Times one piece of work on a backend: CUDA events on the session's stream for the CUDA backend (found
 * by reflection, so CPU runs never load CUDA classes), wall-clock time around a synchronised run otherwise.
 */
public final class CudaTimer {
    private CudaTimer() {
    }

    private static volatile Method cached;

    /** Milliseconds {@code work} takes on {@code backend}. */
    public static double timeMs(Backend backend, Runnable work) {
        Backend b = backend instanceof ProfilingBackend p ? p.inner() : backend;
        if (b.name().equals("cuda")) {
            try {
                Method m = cached;
                if (m == null || m.getDeclaringClass() != b.getClass()) {
                    m = b.getClass().getMethod("timeMs", Runnable.class);
                    cached = m;
                }
                return ((Number) m.invoke(b, work)).doubleValue();
            } catch (java.lang.reflect.InvocationTargetException e) {
                if (e.getCause() instanceof RuntimeException re) {
                    throw re;
                }
                if (e.getCause() instanceof Error err) {
                    throw err;
                }
                throw new IllegalStateException(e.getCause());
            } catch (ReflectiveOperationException e) {
                // fall back to wall-clock time
            }
        }
        long t0 = System.nanoTime();
        work.run();
        backend.synchronize();
        return (System.nanoTime() - t0) / 1e6;
    }
}
