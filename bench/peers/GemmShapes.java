import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

import org.bytedeco.openblas.global.openblas_nolapack;

/**
 * Single-threaded OpenBLAS on every linear layer of dense Swin-T at 224, batch 1 (out = x w^T, the CPU
 * backend's call), as whole calls (what the backend makes on one thread since the second CPU peer report) and
 * cut into the row blocks it made before (max(1, min(M / 64, 8)) calls, each packing the weight again). Used
 * by the CPU peer reports to separate OpenBLAS's own speed from the cost of how the backend calls it.
 *
 * <pre>java -cp java/target/sparsevit.jar bench/peers/GemmShapes.java</pre>
 */
public class GemmShapes {
    static FloatBuffer buf(int n) {
        FloatBuffer b = ByteBuffer.allocateDirect(n * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
        for (int i = 0; i < n; i++) {
            b.put(i, (float) Math.sin(i));
        }
        return b;
    }

    static void gemm(int m, int n, int k, FloatBuffer x, FloatBuffer w, FloatBuffer o, int calls) {
        for (int c = 0; c < calls; c++) {
            int lo = (int) ((long) m * c / calls);
            int hi = (int) ((long) m * (c + 1) / calls);
            openblas_nolapack.cblas_sgemm(openblas_nolapack.CblasRowMajor, openblas_nolapack.CblasNoTrans,
                    openblas_nolapack.CblasTrans, hi - lo, n, k, 1f,
                    x.duplicate().position(lo * k), k, w, k, 0f, o.duplicate().position(lo * n), n);
        }
    }

    public static void main(String[] a) {
        openblas_nolapack.blas_set_num_threads(1);
        // {M tokens, N out, K in, layers}: patch embedding, then per stage qkv, proj, fc1, fc2 (x depth), merge; head
        int[][] shapes = {{3136, 96, 48, 1},
            {3136, 288, 96, 2}, {3136, 96, 96, 2}, {3136, 384, 96, 2}, {3136, 96, 384, 2}, {784, 192, 384, 1},
            {784, 576, 192, 2}, {784, 192, 192, 2}, {784, 768, 192, 2}, {784, 192, 768, 2}, {196, 384, 768, 1},
            {196, 1152, 384, 6}, {196, 384, 384, 6}, {196, 1536, 384, 6}, {196, 384, 1536, 6}, {49, 768, 1536, 1},
            {49, 2304, 768, 2}, {49, 768, 768, 2}, {49, 3072, 768, 2}, {49, 768, 3072, 2}, {1, 1000, 768, 1}};
        for (int round = 0; round < 3; round++) {
            double whole = 0;
            double blocks = 0;
            double macs = 0;
            for (int[] s : shapes) {
                int m = s[0];
                int n = s[1];
                int k = s[2];
                FloatBuffer x = buf(m * k);
                FloatBuffer w = buf(n * k);
                FloatBuffer o = buf(m * n);
                int calls = Math.max(1, Math.min(m / 64, 8));
                gemm(m, n, k, x, w, o, 1);
                gemm(m, n, k, x, w, o, calls);
                int reps = 5;
                long t0 = System.nanoTime();
                for (int r = 0; r < reps; r++) {
                    gemm(m, n, k, x, w, o, 1);
                }
                whole += (System.nanoTime() - t0) / 1e6 / reps * s[3];
                t0 = System.nanoTime();
                for (int r = 0; r < reps; r++) {
                    gemm(m, n, k, x, w, o, calls);
                }
                blocks += (System.nanoTime() - t0) / 1e6 / reps * s[3];
                macs += (double) m * n * k * s[3];
            }
            System.out.printf("round %d: %.2f GMACs in linear layers; whole calls %.1f ms, in the backend's row blocks %.1f ms%n",
                    round, macs / 1e9, whole, blocks);
        }
    }
}
