package org.sparsevit.bench;

import java.util.Map;

/**
 * One measured case: the row of the benchmark report (JSON field names in snake_case).
 *
 * @param impl         implementation ("sparsevit-j"; peers use their own names)
 * @param arch         architecture
 * @param task         "classification" or "backbone"
 * @param size         "HxW"
 * @param batch        batch size
 * @param precision    fp32, tf32, fp16, bf16
 * @param backend      cpu or cuda
 * @param device       the device in words
 * @param sparsity     sparsity label
 * @param gmacs        analytic GMACs per forward pass (whole batch)
 * @param p50Ms        median latency of one forward pass
 * @param p90Ms        90th percentile
 * @param p99Ms        99th percentile
 * @param meanMs       mean
 * @param imagesPerS   batch / p50
 * @param iters        timed iterations
 * @param stagesMs     per node (patch_embed, stage0, merge0, norm0, ..., head): milliseconds, measured
 *                     node by node with synchronisation
 * @param opsMs        per op: milliseconds per forward pass (profiled run)
 * @param memory       the session's memory counters ({@code org.sparsevit.backend.MemoryStats}):
 *                     {@code device_allocations_timed} (device allocations during the timed passes: 0 in the
 *                     steady state), {@code slab_bytes} and {@code slab_lower_bound_bytes} (workspace slabs
 *                     and their peak-live bound), {@code peak_device_bytes}; empty for peers' rows
 * @param hostP50Ms    median wall-clock time of one call from host images to host outputs
 *                     ({@code CompiledForward.run(HostTensor)}: the float32 upload, the pass (graph replay on
 *                     CUDA), the download of the outputs as float32), what a caller with images in Java arrays
 *                     waits; null where not measured (peers' rows)
 */
public record BenchResult(String impl, String arch, String task, String size, int batch, String precision,
                          String backend, String device, String sparsity, double gmacs, double p50Ms, double p90Ms,
                          double p99Ms, double meanMs, double imagesPerS, int iters, Map<String, Double> stagesMs,
                          Map<String, Double> opsMs, Map<String, Long> memory, Double hostP50Ms) {
}
