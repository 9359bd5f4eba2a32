// Package finetune is strata's pure-Go trainer: full fine-tuning (and
// continued pre-training) of dense Llama and Mistral models in float32 on
// the CPU, for the model-customization jobs.
//
// Load reads a Hugging Face folder (config.json and F32, F16 or BF16
// safetensors) into one flat float32 parameter buffer. The forward pass is
// the inference engine's (internal/engine/llm): RMSNorm with its epsilon,
// rotary embeddings in the rotate_half layout with the config's theta and
// linear or llama3 scaling, grouped-query attention, Mistral's sliding
// window, SwiGLU MLPs, tied or untied output head. The backward pass is
// written by hand, layer by layer, as llm.c's train_gpt2.c does, into a
// gradient buffer of the same layout; Train runs AdamW (decoupled weight
// decay on 2-D tensors, bias correction, global-norm clipping, linear
// warmup then a constant rate) over batches of variable-length sequences
// without padding, with per-token loss masks. Save writes an F32
// model.safetensors the engine loads as is.
//
// Kernels. The float32 training path runs its matmuls (forward C = A·Wᵀ,
// backward dA = dC·W and dW += dCᵀ·A) through gemm32 (simd.go): a blocked
// product whose inner loop is fma4x16, a 4×16 AVX2/FMA register-blocked
// micro-kernel in assembly (gemm_amd64.s), or vek32.MatMul_Into
// (github.com/viterin/vek: AVX2 assembly, with a pure-Go fallback) on CPUs
// without AVX2 and FMA and off amd64. Both compute every output as an
// in-order chain of fused multiply-adds over chunks of gemmKC inner
// values, the chunks added in order, so the two give the same values. The
// forward pass reads transposed copies of the weights, refreshed once per
// optimizer step. Attention runs per head as gemm32 products (the scores
// over the whole n×n square, the causal part kept), with the softmax and
// the output cross-entropy on vek32 (Exp, with arguments clamped at −87,
// below which vek32's Exp returns garbage). The float64 path (gradient
// checks) keeps the portable scalar kernels: in-order sums, a 2×4
// register-blocked loop for matmuls. So float32 results differ from an
// in-order float32 sum by rounding only (TestMatmulKernels bounds it), and
// float32 gradients match float64 ones to ‖g32−g64‖/‖g64‖ ≤ 1e-4.
//
// Work is split across goroutines by output rows or column tiles
// (matmuls), query heads (attention forward), key/value groups (attention
// backward) or output rows (cross-entropy), and no value depends on the
// split: every sum runs in a fixed order, so training is bit-for-bit
// reproducible whatever GOMAXPROCS is (on a given machine: a CPU without
// AVX2 takes other code paths).
//
// Not supported: mixture-of-experts (Mixtral) models, LoRA or other
// parameter-efficient methods, mixed or reduced precision, attention or MLP
// biases, gradient checkpointing (activations, including every head's
// attention probabilities, are kept for the whole sequence, so memory grows
// with the square of the sequence length), learning-rate decay.
package finetune
