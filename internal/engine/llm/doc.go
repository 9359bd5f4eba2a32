// Package llm is strata's built-in inference engine: a pure-Go transformer
// for the Llama, Mistral and Mixtral architectures (RMSNorm, rotary position
// embeddings in Hugging Face's rotate_half layout, grouped-query attention,
// Mistral's sliding window, SwiGLU MLPs, Mixtral's top-k mixture of experts)
// with a KV cache, a sampler and a continuous-batching scheduler.
//
// A Model holds the weights (memory-mapped F32 safetensors are used in
// place; F16/BF16 are converted to F32 at load; int8 with per-row scales on
// request). Engine implements engine.Engine over a Model: concurrent
// requests join one forward pass per step, so each weight row is read once
// per step for every active sequence.
package llm
