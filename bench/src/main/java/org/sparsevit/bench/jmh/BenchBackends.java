package org.sparsevit.bench.jmh;

import java.util.Random;

import org.sparsevit.backend.Backend;
import org.sparsevit.backend.Backends;
import org.sparsevit.backend.Precision;
import org.sparsevit.backend.cpu.CpuBackend;
import org.sparsevit.tensor.HostTensor;

/** What the op benchmarks share: opening the session of their {@code backend} and {@code precision} params, inputs. */
final class BenchBackends {
    private BenchBackends() {
    }

    /**
     * A session of {@code backend} ("cpu" or "cuda") at {@code precision}; fp16/bf16 on the CPU are its storage
     * emulation (slow). Where the CUDA backend cannot run, fails at once with its reason (JMH reports the trial
     * as failed with that message).
     */
    static Backend open(String backend, String precision) {
        Precision p = Precision.parse(precision);
        if ("cuda".equals(backend)) {
            String why = Backends.cudaUnavailableReason();
            if (why != null) {
                throw new IllegalStateException("backend=cuda: the CUDA backend is not available here: " + why);
            }
        }
        return "cpu".equals(backend) && p != Precision.FP32 ? new CpuBackend(p) : Backends.create(backend, p, null);
    }

    /** Standard normal values, seeded. */
    static HostTensor random(long seed, int... shape) {
        HostTensor t = HostTensor.zeros(shape);
        Random r = new Random(seed);
        for (int i = 0; i < t.data().length; i++) {
            t.data()[i] = (float) r.nextGaussian();
        }
        return t;
    }
}
