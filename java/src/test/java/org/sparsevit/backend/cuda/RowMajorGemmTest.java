package org.sparsevit.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The cuBLAS / cuBLASLt arguments of a row-major linear layer, checked without a GPU: the flat Java arrays are
 * handed to a column-major GEMM written from the cuBLAS definitions (op(A) m x k, op(B) k x n, C m x n, element
 * (i, j) of a column-major matrix at i + j * ld, with cuBLAS's leading-dimension rules), and the result must be
 * the row-major {@code out = x w^T + bias + beta * out}.
 */
class RowMajorGemmTest {

    /** op(M)(i, j) of a column-major matrix with leading dimension ld. */
    private static float op(float[] mat, int trans, int ld, int i, int j) {
        return trans == RowMajorGemm.OP_N ? mat[i + j * ld] : mat[j + i * ld];
    }

    /** cublasGemmEx: C = alpha op(A) op(B) + beta C, with its argument checks. */
    private static void cublasGemm(RowMajorGemm.GemmEx g, float alpha, float[] a, float[] b, float beta, float[] c) {
        int m = g.m();
        int n = g.n();
        int k = g.k();
        assertTrue(g.lda() >= Math.max(1, g.transa() == RowMajorGemm.OP_N ? m : k), "lda " + g);
        assertTrue(g.ldb() >= Math.max(1, g.transb() == RowMajorGemm.OP_N ? k : n), "ldb " + g);
        assertTrue(g.ldc() >= Math.max(1, m), "ldc " + g);
        // every element the call reads or writes lies inside the Java arrays
        assertTrue((long) (g.transa() == RowMajorGemm.OP_N ? k - 1 : m - 1) * g.lda()
                + (g.transa() == RowMajorGemm.OP_N ? m : k) <= a.length, "A extent " + g);
        assertTrue((long) (g.transb() == RowMajorGemm.OP_N ? n - 1 : k - 1) * g.ldb()
                + (g.transb() == RowMajorGemm.OP_N ? k : n) <= b.length, "B extent " + g);
        assertTrue((long) (n - 1) * g.ldc() + m <= c.length, "C extent " + g);
        for (int j = 0; j < n; j++) {
            for (int i = 0; i < m; i++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    s += (double) op(a, g.transa(), g.lda(), i, p) * op(b, g.transb(), g.ldb(), p, j);
                }
                c[i + j * g.ldc()] = (float) (alpha * s + beta * c[i + j * g.ldc()]);
            }
        }
    }

    /** cublasLtMatmul with the BIAS epilogue: D = alpha op(A) op(B) + beta C + bias (bias along D's rows), C == D. */
    private static void cublasLtBias(RowMajorGemm.Lt l, float alpha, float[] a, float[] b, float beta, float[] cd,
                                     float[] bias) {
        RowMajorGemm.Layout la = l.a();
        RowMajorGemm.Layout lb = l.b();
        RowMajorGemm.Layout lc = l.c();
        for (RowMajorGemm.Layout x : new RowMajorGemm.Layout[]{la, lb, lc}) {
            assertTrue(x.ld() >= x.rows(), "column-order ld >= rows: " + x);
        }
        long m = l.transa() == RowMajorGemm.OP_N ? la.rows() : la.cols();
        long ka = l.transa() == RowMajorGemm.OP_N ? la.cols() : la.rows();
        long kb = l.transb() == RowMajorGemm.OP_N ? lb.rows() : lb.cols();
        long n = l.transb() == RowMajorGemm.OP_N ? lb.cols() : lb.rows();
        assertEquals(ka, kb, "inner dimensions of op(A) and op(B)");
        assertEquals(m, lc.rows(), "rows of D");
        assertEquals(n, lc.cols(), "columns of D");
        assertEquals(m, bias.length, "the BIAS epilogue's vector has one value per row of D");
        assertTrue((la.cols() - 1) * la.ld() + la.rows() <= a.length, "A extent " + la);
        assertTrue((lb.cols() - 1) * lb.ld() + lb.rows() <= b.length, "B extent " + lb);
        assertTrue((lc.cols() - 1) * lc.ld() + lc.rows() <= cd.length, "C/D extent " + lc);
        for (int j = 0; j < n; j++) {
            for (int i = 0; i < m; i++) {
                double s = 0;
                for (int p = 0; p < ka; p++) {
                    s += (double) op(a, l.transa(), (int) la.ld(), i, p) * op(b, l.transb(), (int) lb.ld(), p, j);
                }
                int at = (int) (i + j * lc.ld());
                cd[at] = (float) (alpha * s + beta * cd[at] + bias[i]);
            }
        }
    }

    private static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    /** Row-major reference: out[i, j] = sum_p x[i, p] w[j, p] + bias[j] + beta * out[i, j]. */
    private static float[] reference(float[] x, float[] w, float[] bias, float beta, float[] out, int rows, int nOut,
                                     int nIn) {
        float[] r = new float[rows * nOut];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < nOut; j++) {
                double s = 0;
                for (int p = 0; p < nIn; p++) {
                    s += (double) x[i * nIn + p] * w[j * nIn + p];
                }
                r[i * nOut + j] = (float) (s + (bias == null ? 0 : bias[j]) + beta * out[i * nOut + j]);
            }
        }
        return r;
    }

    private static void assertClose(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], 1e-4 * (1 + Math.abs(want[i])), what + ": element " + i);
        }
    }

    @ParameterizedTest(name = "x[{0}, {2}] w[{1}, {2}]")
    @CsvSource({"1,1,1", "3,5,7", "7,5,3", "98,288,96", "10,8,12", "300,384,96", "2,1,9", "1,16,4"})
    void gemmExArgumentsComputeTheRowMajorLinearLayer(int rows, int nOut, int nIn) {
        Random r = new Random(rows * 31L + nOut * 7L + nIn);
        float[] x = random(r, rows * nIn);
        float[] w = random(r, nOut * nIn);
        float[] res = random(r, rows * nOut);
        RowMajorGemm.GemmEx g = RowMajorGemm.gemmEx(rows, nOut, nIn);
        for (float beta : new float[]{0f, 1f}) {
            float[] out = res.clone();
            // cublasGemmEx(handle, transa, transb, m, n, k, alpha, A = w, lda, B = x, ldb, beta, C = out, ldc)
            cublasGemm(g, 1f, w, x, beta, out);
            assertClose(reference(x, w, null, beta, res, rows, nOut, nIn), out, "cublasGemmEx beta " + beta);
        }
    }

    @ParameterizedTest(name = "x[{0}, {2}] w[{1}, {2}]")
    @CsvSource({"1,1,1", "3,5,7", "7,5,3", "98,288,96", "300,384,96", "2,1,9", "1,16,4"})
    void cublasLtLayoutsComputeTheRowMajorLinearLayerWithItsBias(int rows, int nOut, int nIn) {
        Random r = new Random(rows * 17L + nOut * 5L + nIn);
        float[] x = random(r, rows * nIn);
        float[] w = random(r, nOut * nIn);
        float[] bias = random(r, nOut);
        float[] res = random(r, rows * nOut);
        RowMajorGemm.Lt l = RowMajorGemm.lt(rows, nOut, nIn);
        for (float beta : new float[]{0f, 1f}) {
            float[] out = res.clone();
            // cublasLtMatmul(A = w, B = x, C = D = out) with the BIAS epilogue; beta 1 accumulates in place
            cublasLtBias(l, 1f, w, x, beta, out, bias);
            assertClose(reference(x, w, bias, beta, res, rows, nOut, nIn), out, "cublasLtMatmul beta " + beta);
        }
    }
}
