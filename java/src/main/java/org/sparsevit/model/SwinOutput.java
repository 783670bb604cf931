package org.sparsevit.model;

import java.util.List;

import org.sparsevit.tensor.HostTensor;

/**
 * What a forward pass returns, on the host.
 *
 * @param logits    [B, classes] for a classification model, else null
 * @param features  the four NCHW feature maps [B, C_i, H_i, W_i] of a backbone, else an empty list
 */
public record SwinOutput(HostTensor logits, List<HostTensor> features) {
}
