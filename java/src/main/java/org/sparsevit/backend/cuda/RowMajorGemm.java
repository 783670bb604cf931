package org.sparsevit.backend.cuda;

/**
 * The column-major cuBLAS arguments of a row-major linear layer {@code out[M, N] = x[M, K] w[N, K]^T}, in one
 * place for {@code cublasGemmEx} and the cuBLASLt plans (pure arithmetic: unit-tested without a GPU against a
 * column-major reference GEMM).
 *
 * <p>A row-major [R, C] matrix is the column-major C x R matrix with leading dimension C, so the product is
 * computed as the column-major {@code out^T[N, M] = (w^T)^T[N, K] x^T[K, M]}: operand A is the weight (stored
 * as the column-major K x N matrix, used transposed), operand B is the input (the column-major K x M matrix),
 * C = D is the output (the column-major N x M matrix). A bias of N values then runs along C's rows, which is
 * how cuBLASLt's BIAS epilogue adds it.
 */
final class RowMajorGemm {
    /** cublasOperation_t values (CUBLAS_OP_N, CUBLAS_OP_T). */
    static final int OP_N = 0;
    static final int OP_T = 1;

    private RowMajorGemm() {
    }

    /**
     * Arguments of {@code cublasGemmEx(handle, transa, transb, m, n, k, alpha, A = w, lda, B = x, ldb, beta,
     * C = out, ldc)} (cuBLAS's m, n, k: rows of C, columns of C, inner dimension).
     */
    record GemmEx(int transa, int transb, int m, int n, int k, int lda, int ldb, int ldc) {
    }

    /** One cuBLASLt matrix layout (column order): rows, columns and leading dimension of the stored matrix. */
    record Layout(long rows, long cols, long ld) {
    }

    /** cuBLASLt operands: A = w with {@code transa}, B = x with {@code transb}, C = D = out. */
    record Lt(int transa, int transb, Layout a, Layout b, Layout c) {
    }

    /** For out[rows, outFeatures] = x[rows, inFeatures] w[outFeatures, inFeatures]^T. */
    static GemmEx gemmEx(int rows, int outFeatures, int inFeatures) {
        return new GemmEx(OP_T, OP_N, outFeatures, rows, inFeatures, inFeatures, inFeatures, outFeatures);
    }

    /** The same product as {@link #gemmEx} for cublasLtMatmul (the layouts describe the matrices as stored). */
    static Lt lt(int rows, int outFeatures, int inFeatures) {
        return new Lt(OP_T, OP_N, new Layout(inFeatures, outFeatures, inFeatures), new Layout(inFeatures, rows, inFeatures),
                new Layout(outFeatures, rows, outFeatures));
    }
}
