package org.sparsevit.bench.jmh;

import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.sparsevit.backend.Backend;
import org.sparsevit.backend.cuda.CudaBackend;
import org.sparsevit.tensor.DType;
import org.sparsevit.tensor.Tensor;

/**
 * {@link CudaBackend#cast}, the one public tensor op outside the Backend interface (CUDA only; the CPU backend has no
 * cast, and no forward pass calls it): the Swin-T stage-0 map at 672x672 ([1, 168*168, 96]) between F32 and
 * F16/BF16.
 *
 * <pre>java -jar bench/target/benchmarks.jar CastBenchmark</pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class CastBenchmark {
    @Param({"cuda"})
    public String backend;

    /** The reduced type: F16 or BF16. */
    @Param({"F16", "BF16"})
    public String half;

    Backend be;
    CudaBackend cuda;
    Tensor full;
    Tensor reduced;

    @Setup(Level.Trial)
    public void setUp() {
        if (!"cuda".equals(backend)) {
            throw new IllegalStateException("cast is an op of the CUDA backend only: backend=" + backend + " has none");
        }
        be = BenchBackends.open(backend, "fp32");
        cuda = (CudaBackend) be;
        DType dt = DType.valueOf(half);
        if (dt != DType.F16 && dt != DType.BF16) {
            throw new IllegalArgumentException("half must be F16 or BF16, got " + half);
        }
        full = be.upload(BenchBackends.random(1, 1, 168 * 168, 96));
        reduced = be.empty(dt, 1, 168 * 168, 96);
        cuda.cast(full, reduced);
        be.synchronize();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (be != null) {
            be.close();
        }
    }

    @Benchmark
    public void toHalf() {
        cuda.cast(full, reduced);
        be.synchronize();
    }

    @Benchmark
    public void toFloat() {
        cuda.cast(reduced, full);
        be.synchronize();
    }
}
