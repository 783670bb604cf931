package org.sparsevit.bench;

import java.util.Locale;
import java.util.Optional;

/**
 * Dense peak throughput of the GPUs the benchmark is meant for, to put achieved TFLOP/s in context.
 *
 * <p>Figures are NVIDIA's published specifications (H100 Tensor Core GPU datasheet; H200 Tensor Core GPU
 * datasheet). NVIDIA lists TF32/FP16/BF16 tensor-core throughput "with sparsity" (2:4 structured sparsity);
 * the dense figures used here are half of those. FP32 is the non-tensor-core CUDA-core peak. They are peaks
 * at boost clock; sustained clocks under load are lower.
 *
 * @param model        the product as matched (e.g. "H100 SXM5")
 * @param fp32Tflops   FP32 (CUDA cores)
 * @param tf32Tflops   TF32 tensor cores, dense
 * @param fp16Tflops   FP16 tensor cores (FP32 accumulate), dense; BF16 is the same
 * @param bandwidthTBs HBM bandwidth in TB/s
 * @param assumption   how the device name was matched when it was ambiguous, else empty
 */
public record GpuPeaks(String model, double fp32Tflops, double tf32Tflops, double fp16Tflops, double bandwidthTBs,
                       String assumption) {

    /** Where the figures come from (printed under the report's tables). */
    public static final String SOURCE = "NVIDIA H100 Tensor Core GPU datasheet and NVIDIA H200 Tensor Core GPU"
            + " datasheet; tensor-core figures there are quoted with 2:4 sparsity, the dense peaks used here are half"
            + " of them; FP32 is the CUDA-core peak; all at boost clock";

    /** The peaks of a device named as the driver names it (nvidia-smi, cudaGetDeviceProperties), if known. */
    public static Optional<GpuPeaks> of(String deviceName) {
        if (deviceName == null) {
            return Optional.empty();
        }
        String n = deviceName.toUpperCase(Locale.ROOT);
        if (n.contains("GH200") || n.contains("GB200")) {
            return Optional.empty(); // superchips: clocks and power differ, not tabulated here
        }
        if (n.contains("H200")) {
            if (n.contains("NVL")) {
                return Optional.of(new GpuPeaks("H200 NVL", 60, 417.5, 835.5, 4.8, ""));
            }
            return Optional.of(new GpuPeaks("H200 SXM", 67, 494.5, 989.5, 4.8, ""));
        }
        if (n.contains("H100")) {
            if (n.contains("PCIE")) {
                return Optional.of(new GpuPeaks("H100 PCIe", 51, 378, 756.5, 2.0, ""));
            }
            if (n.contains("NVL")) {
                return Optional.of(new GpuPeaks("H100 NVL", 60, 417.5, 835.5, 3.9, ""));
            }
            String why = n.contains("HBM3") || n.contains("SXM") ? ""
                    : "the name does not say the form factor; SXM5 figures assumed";
            return Optional.of(new GpuPeaks("H100 SXM5", 67, 494.5, 989.5, 3.35, why));
        }
        return Optional.empty();
    }

    /** The dense peak for a precision name (fp32, tf32, fp16, bf16) in TFLOP/s, or NaN when unknown. */
    public double tflops(String precision) {
        return switch (precision == null ? "" : precision.toLowerCase(Locale.ROOT)) {
            case "fp32" -> fp32Tflops;
            case "tf32" -> tf32Tflops;
            case "fp16", "bf16" -> fp16Tflops;
            default -> Double.NaN;
        };
    }

    /** Achieved TFLOP/s of a forward pass: 2 FLOPs per MAC over the latency (0 when either is unknown). */
    public static double achievedTflops(double gmacs, double ms) {
        return gmacs > 0 && ms > 0 ? 2 * gmacs / ms : 0;
    }
}
