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
// Work is split across goroutines by output rows (matmuls, attention heads
// by key/value group), and every sum runs in a fixed order, so training is
// bit-for-bit reproducible whatever GOMAXPROCS is.
//
// Not supported: mixture-of-experts (Mixtral) models, LoRA or other
// parameter-efficient methods, mixed or reduced precision, attention or MLP
// biases, gradient checkpointing (activations, including every head's
// attention probabilities, are kept for the whole sequence, so memory grows
// with the square of the sequence length), learning-rate decay.
package finetune
