// Package upstream implements engine.Engine over remote model servers, so a
// model can be served by a vLLM, llama.cpp server, Ollama or TGI fleet, by
// AWS Bedrock itself, or by another strata, behind the same interface as the
// built-in engine.
//
// Two engines live here:
//
//   - OpenAI speaks the OpenAI HTTP API that vLLM, llama.cpp server, Ollama
//     (under /v1) and TGI (under /v1) serve: chat requests go to
//     POST {BaseURL}/chat/completions and completion prompts to
//     POST {BaseURL}/completions, always streamed (SSE with
//     stream_options.include_usage), so tokens reach the caller as the
//     upstream produces them.
//   - Bedrock speaks the Bedrock runtime through aws-sdk-go-v2: chat requests
//     go to ConverseStream and completion prompts to
//     InvokeModelWithResponseStream, in the body format of the model's family
//     ("mistral" or "llama"). The endpoint is configurable, so the upstream
//     can be AWS or another strata.
//
// Both share the same robustness rules:
//
//   - Each request has its own timeout (Config.Timeout) covering all its
//     attempts; past it Generate fails with apierr.ModelTimeout. When the
//     caller's ctx is done, Generate returns ctx.Err() and the upstream
//     connection is closed at once.
//   - Failed attempts are retried with exponential backoff and full jitter,
//     but only before the first token was emitted, so no token is ever sent
//     twice: on connection errors, 429, 502, 503 and 504 (OpenAI), and on
//     Throttling, ServiceUnavailable, ModelNotReady and 5xx (Bedrock).
//   - Errors carry apierr kinds: 429 is Throttling, a timeout ModelTimeout,
//     400 Validation with the upstream's message (cut, masked by the guard,
//     stripped of the API key), 5xx and connection failures ModelError, or
//     ServiceUnavailable while the upstream is marked down.
//   - A background prober (Config.ProbeInterval) calls Health and keeps an
//     up/down state that Healthy reports, so callers can route around a dead
//     upstream. Request outcomes update the same state: a request that could
//     not reach the upstream marks it down, a successful one marks it up.
//
// Every input is a guard.Text; a zero one is refused with
// engine.ErrUnguarded before anything is sent.
//
// # Token counts
//
// The OpenAI API has no token-count endpoint. OpenAI.CountTokens uses vLLM's
// POST {root}/tokenize (root is BaseURL without its /v1 suffix) and, when the
// upstream has none (404, 405 or 501, remembered for later calls) or it
// fails, an estimate: the prompt's bytes divided by 4, rounded up (plus 4
// tokens per chat message for the template). No model tokenizer (such as
// tiktoken) is bundled, so the estimate is only for admission control; the
// usage the upstream reports after generation is what the runtime accounts.
// Bedrock.CountTokens uses the Bedrock CountTokens operation and falls back to
// the same estimate when the model does not support it.
//
// # Configuration
//
// A model is served by an upstream when its runtime.Target carries one of
// these engines in its Engine field. Spec is one entry of the proposed
// `engines:` YAML section, which a model then names, and Open builds the
// engine it describes; secrets stay in environment variables the entry
// names:
//
//	engines:
//	  - name: vllm-large
//	    type: openai               # openai | bedrock
//	    url: http://vllm:8000/v1   # BaseURL (openai) or endpoint (bedrock)
//	    model: mistralai/Mistral-7B-Instruct-v0.3
//	    api_key_env: VLLM_API_KEY  # the key is read from this variable
//	    timeout: 2m                # per request, all attempts; default 5m
//	    retries: 2                 # before the first token; default 2, 0 none
//	    probe_interval: 10s        # health checks; default 10s, 0s disables
//	    estimate_tokens: false     # true skips /tokenize (one round trip less)
//	  - name: aws
//	    type: bedrock
//	    url: https://bedrock-runtime.us-east-1.amazonaws.com
//	    region: us-east-1
//	    model: arn:aws:bedrock:us-east-1:123456789012:imported-model/abc
//	    family: mistral            # mistral | llama (InvokeModel body format)
//	    access_key_env: UPSTREAM_AWS_ACCESS_KEY_ID
//	    secret_key_env: UPSTREAM_AWS_SECRET_ACCESS_KEY
//	    session_token_env: ""      # optional
//
// Package upstreamtest holds loopback servers that speak both protocols, for
// tests and benchmarks.
package upstream
