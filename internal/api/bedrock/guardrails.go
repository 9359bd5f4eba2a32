package bedrock

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"strata/internal/apierr"
	"strata/internal/guard"
	"strata/internal/guardrails"
	"strata/internal/iam"
	"strata/internal/runtime"
)

func (h *Handler) guardrails() (*guardrails.Service, error) {
	if h.Guardrails == nil {
		return nil, apierr.New(apierr.UnknownOperation, "Guardrails are not enabled on this server")
	}
	return h.Guardrails, nil
}

// guardrailBody is the body of CreateGuardrail and UpdateGuardrail.
type guardrailBody struct {
	guard.Guardrail
	Tags               []tagJSON       `json:"tags"`
	ClientRequestToken string          `json:"clientRequestToken"`
	KMSKeyID           string          `json:"kmsKeyId"`
	CrossRegionConfig  json.RawMessage `json:"crossRegionConfig"`
	AutomatedReasoning json.RawMessage `json:"automatedReasoningPolicyConfig"`
}

// guardrailFields are the top-level members CreateGuardrail takes; the
// policy members' own members are read leniently (modalities and tier
// configs are accepted and ignored: strata evaluates text with one tier).
var guardrailFields = []string{"name", "description", "blockedInputMessaging", "blockedOutputsMessaging",
	"topicPolicyConfig", "contentPolicyConfig", "wordPolicyConfig", "sensitiveInformationPolicyConfig",
	"contextualGroundingPolicyConfig", "automatedReasoningPolicyConfig", "crossRegionConfig", "kmsKeyId",
	"tags", "clientRequestToken"}

func decodeGuardrail(body []byte, update bool) (*guardrailBody, error) {
	var top map[string]json.RawMessage
	if err := decode(body, &top); err != nil {
		return nil, err
	}
	for k := range top {
		if !slices.Contains(guardrailFields, k) || update && (k == "tags" || k == "clientRequestToken") {
			return nil, apierr.New(apierr.Validation, "The request body has an unknown member %q", k)
		}
	}
	var in guardrailBody
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, apierr.New(apierr.Validation, "The request body could not be parsed: %v", err)
	}
	switch {
	case in.KMSKeyID != "":
		return nil, apierr.New(apierr.Validation, "kmsKeyId is not supported by strata: guardrail policies are kept in the metadata store")
	case in.AutomatedReasoning != nil:
		return nil, apierr.New(apierr.Validation, "automatedReasoningPolicyConfig is not supported by strata")
	}
	return &in, nil
}

func (h *Handler) createGuardrail(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error {
	svc, err := h.guardrails()
	if err != nil {
		return err
	}
	in, err := decodeGuardrail(body, false)
	if err != nil {
		return err
	}
	g, err := svc.Create(ctx, p, guardrails.CreateInput{Policy: in.Guardrail, Tags: toTags(in.Tags), ClientRequestToken: in.ClientRequestToken})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"guardrailId": g.ID, "guardrailArn": g.ARN, "version": g.Version, "createdAt": timestamp(g.Created)})
	return nil
}

// guardrailJSON is GetGuardrail's response.
type guardrailJSON struct {
	Name                    string  `json:"name"`
	GuardrailID             string  `json:"guardrailId"`
	GuardrailArn            string  `json:"guardrailArn"`
	Version                 string  `json:"version"`
	Status                  string  `json:"status"`
	Description             string  `json:"description,omitempty"`
	BlockedInputMessaging   string  `json:"blockedInputMessaging"`
	BlockedOutputsMessaging string  `json:"blockedOutputsMessaging"`
	CreatedAt               *string `json:"createdAt"`
	UpdatedAt               *string `json:"updatedAt"`
	guard.PolicyView
}

func (h *Handler) getGuardrail(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	svc, err := h.guardrails()
	if err != nil {
		return err
	}
	g, err := svc.Get(ctx, p, r.PathValue("guardrailIdentifier"), r.URL.Query().Get("guardrailVersion"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, guardrailJSON{
		Name: g.Name(), GuardrailID: g.ID, GuardrailArn: g.ARN, Version: g.Version, Status: g.Status(),
		Description: g.DescriptionText(), BlockedInputMessaging: g.Policy.BlockedInputMessaging,
		BlockedOutputsMessaging: g.Policy.BlockedOutputsMessaging, CreatedAt: timestamp(g.Created),
		UpdatedAt: timestamp(g.Updated), PolicyView: g.Policy.View(),
	})
	return nil
}

type guardrailSummaryJSON struct {
	ID          string  `json:"id"`
	Arn         string  `json:"arn"`
	Status      string  `json:"status"`
	Name        string  `json:"name"`
	Description string  `json:"description,omitempty"`
	Version     string  `json:"version"`
	CreatedAt   *string `json:"createdAt"`
	UpdatedAt   *string `json:"updatedAt"`
}

func (h *Handler) listGuardrails(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	svc, err := h.guardrails()
	if err != nil {
		return err
	}
	maxResults, err := parseIntQuery(r, "maxResults")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	gs, next, err := svc.List(ctx, p, guardrails.ListInput{Identifier: q.Get("guardrailIdentifier"), MaxResults: maxResults, NextToken: q.Get("nextToken")})
	if err != nil {
		return err
	}
	out := struct {
		Guardrails []guardrailSummaryJSON `json:"guardrails"`
		NextToken  string                 `json:"nextToken,omitempty"`
	}{Guardrails: []guardrailSummaryJSON{}, NextToken: next}
	for _, g := range gs {
		out.Guardrails = append(out.Guardrails, guardrailSummaryJSON{ID: g.ID, Arn: g.ARN, Status: g.Status(), Name: g.Name(),
			Description: g.DescriptionText(), Version: g.Version, CreatedAt: timestamp(g.Created), UpdatedAt: timestamp(g.Updated)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) updateGuardrail(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error {
	svc, err := h.guardrails()
	if err != nil {
		return err
	}
	in, err := decodeGuardrail(body, true)
	if err != nil {
		return err
	}
	g, err := svc.Update(ctx, p, r.PathValue("guardrailIdentifier"), in.Guardrail)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"guardrailId": g.ID, "guardrailArn": g.ARN, "version": g.Version, "updatedAt": timestamp(g.Updated)})
	return nil
}

func (h *Handler) createGuardrailVersion(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error {
	svc, err := h.guardrails()
	if err != nil {
		return err
	}
	var in struct {
		Description        string `json:"description"`
		ClientRequestToken string `json:"clientRequestToken"`
	}
	if err := decode(body, &in); err != nil {
		return err
	}
	g, err := svc.CreateVersion(ctx, p, r.PathValue("guardrailIdentifier"), in.Description, in.ClientRequestToken)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"guardrailId": g.ID, "version": g.Version})
	return nil
}

func (h *Handler) deleteGuardrail(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	svc, err := h.guardrails()
	if err != nil {
		return err
	}
	if err := svc.Delete(ctx, p, r.PathValue("guardrailIdentifier"), r.URL.Query().Get("guardrailVersion")); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, struct{}{})
	return nil
}

// maxApplyChars bounds the text of one ApplyGuardrail call.
const maxApplyChars = 1 << 20

func (h *Handler) applyGuardrail(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error {
	svc, err := h.guardrails()
	if err != nil {
		return err
	}
	var in struct {
		Source  string `json:"source"`
		Content []struct {
			Text *struct {
				Text       string   `json:"text"`
				Qualifiers []string `json:"qualifiers"`
			} `json:"text"`
			Image json.RawMessage `json:"image"`
		} `json:"content"`
		OutputScope string `json:"outputScope"`
	}
	if err := decode(body, &in); err != nil {
		return err
	}
	switch {
	case in.Source != string(guard.SourceInput) && in.Source != string(guard.SourceOutput):
		return apierr.New(apierr.Validation, "1 validation error detected: Value '%s' at 'source' failed to satisfy constraint: Member must satisfy enum value set: [INPUT, OUTPUT]", in.Source)
	case len(in.Content) == 0:
		return apierr.New(apierr.Validation, "1 validation error detected: Value at 'content' failed to satisfy constraint: Member must not be null")
	case in.OutputScope != "" && in.OutputScope != "INTERVENTIONS" && in.OutputScope != "FULL":
		return apierr.New(apierr.Validation, "outputScope must be INTERVENTIONS or FULL")
	}
	texts := make([]string, 0, len(in.Content))
	total := 0
	for i, c := range in.Content {
		if c.Text == nil {
			return apierr.New(apierr.Validation, "content.%d: strata guardrails evaluate text content only", i)
		}
		for _, q := range c.Text.Qualifiers {
			if q != "grounding_source" && q != "query" && q != "guard_content" {
				return apierr.New(apierr.Validation, "content.%d.text.qualifiers: %q is not grounding_source, query or guard_content", i, q)
			}
		}
		total += len(c.Text.Text)
		texts = append(texts, c.Text.Text)
	}
	if total > maxApplyChars {
		return apierr.New(apierr.Validation, "The content is longer than %d characters", maxApplyChars)
	}
	pol, _, err := svc.Resolve(ctx, p, r.PathValue("guardrailIdentifier"), r.PathValue("guardrailVersion"))
	if err != nil {
		return err
	}
	resp, err := guard.Apply(pol, guard.Source(in.Source), texts)
	if err != nil {
		return apierr.Wrap(apierr.Internal, err, "The guardrail could not be applied")
	}
	if in.OutputScope == "FULL" && resp.Action == guard.ActionNone {
		for _, t := range texts {
			resp.Outputs = append(resp.Outputs, guard.OutputText{Text: t})
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// guardrailConfig is Converse's guardrailConfig; InvokeModel's guardrail
// headers fill it too.
type guardrailConfig struct {
	GuardrailIdentifier  string `json:"guardrailIdentifier"`
	GuardrailVersion     string `json:"guardrailVersion"`
	Trace                string `json:"trace"`
	StreamProcessingMode string `json:"streamProcessingMode"`

	id string // the resolved guardrail's id, the trace's key
}

// useGuardrail resolves gc's guardrail onto inv (bedrock:ApplyGuardrail on
// its ARN is required). A nil gc uses none and returns nil.
func (h *Handler) useGuardrail(ctx context.Context, p *iam.Principal, inv *runtime.Invocation, gc *guardrailConfig, stream bool) (*guardrailConfig, error) {
	if gc == nil {
		return nil, nil
	}
	switch {
	case gc.GuardrailIdentifier == "":
		return nil, apierr.New(apierr.Validation, "guardrailConfig.guardrailIdentifier is required")
	case gc.GuardrailVersion == "":
		return nil, apierr.New(apierr.Validation, "guardrailConfig.guardrailVersion is required")
	}
	switch strings.ToLower(gc.Trace) {
	case "", "enabled", "disabled", "enabled_full":
	default:
		return nil, apierr.New(apierr.Validation, "guardrailConfig.trace must be enabled, disabled or enabled_full, not %q", gc.Trace)
	}
	switch gc.StreamProcessingMode {
	case "", "sync":
	case "async":
		inv.GuardrailAsync = stream
	default:
		return nil, apierr.New(apierr.Validation, "guardrailConfig.streamProcessingMode must be sync or async, not %q", gc.StreamProcessingMode)
	}
	svc, err := h.guardrails()
	if err != nil {
		return nil, err
	}
	pol, g, err := svc.Resolve(ctx, p, gc.GuardrailIdentifier, gc.GuardrailVersion)
	if err != nil {
		return nil, err
	}
	inv.Guardrail, gc.id = pol, g.ID
	return gc, nil
}

func (gc *guardrailConfig) traced() bool {
	if gc == nil {
		return false
	}
	t := strings.ToLower(gc.Trace)
	return t == "enabled" || t == "enabled_full"
}

// invocationMetricsJSON is a GuardrailAssessment's invocationMetrics.
type invocationMetricsJSON struct {
	GuardrailProcessingLatency int64           `json:"guardrailProcessingLatency"`
	Usage                      guard.Usage     `json:"usage"`
	GuardrailCoverage          *guard.Coverage `json:"guardrailCoverage,omitempty"`
}

// traceAssessment is a GuardrailAssessment in a trace.
type traceAssessment struct {
	guard.Assessment
	InvocationMetrics *invocationMetricsJSON `json:"invocationMetrics,omitempty"`
}

// assessmentOf merges r's assessments into one, with r's metrics.
func assessmentOf(r *guard.ApplyResponse, took time.Duration) traceAssessment {
	var a traceAssessment
	for _, x := range r.Assessments {
		a.TopicPolicy = cmp.Or(a.TopicPolicy, x.TopicPolicy)
		a.ContentPolicy = cmp.Or(a.ContentPolicy, x.ContentPolicy)
		a.WordPolicy = cmp.Or(a.WordPolicy, x.WordPolicy)
		a.SensitiveInformationPolicy = cmp.Or(a.SensitiveInformationPolicy, x.SensitiveInformationPolicy)
	}
	a.InvocationMetrics = &invocationMetricsJSON{GuardrailProcessingLatency: took.Milliseconds(), Usage: r.Usage, GuardrailCoverage: r.GuardrailCoverage}
	return a
}

// trace returns Converse's trace.guardrail, or nil when tracing is off.
func (gc *guardrailConfig) trace(res *runtime.Result) map[string]any {
	if !gc.traced() || res.Guardrail == nil {
		return nil
	}
	g := res.Guardrail
	t := map[string]any{}
	reason := "No action."
	if g.Input != nil {
		t["inputAssessment"] = map[string]any{gc.id: assessmentOf(g.Input, g.InputLatency)}
		if g.Input.Action == guard.ActionIntervened {
			reason = g.Input.ActionReason
		}
	}
	if g.Output != nil {
		t["outputAssessments"] = map[string]any{gc.id: []traceAssessment{assessmentOf(g.Output, g.OutputLatency)}}
		if g.Output.Action == guard.ActionIntervened {
			reason = g.Output.ActionReason
		}
	}
	if g.ModelOutput != "" {
		t["modelOutput"] = []string{g.ModelOutput}
	}
	t["actionReason"] = reason
	return t
}

// guardrailHeaders reads InvokeModel's guardrail headers into a config
// and resolves it onto inv; none set returns nil. streamMode is the
// body's amazon-bedrock-guardrailConfig.streamProcessingMode, if any.
func (h *Handler) guardrailHeaders(ctx context.Context, p *iam.Principal, r *http.Request, inv *runtime.Invocation, streamMode string) (*guardrailConfig, error) {
	id, v := r.Header.Get("X-Amzn-Bedrock-GuardrailIdentifier"), r.Header.Get("X-Amzn-Bedrock-GuardrailVersion")
	trace := r.Header.Get("X-Amzn-Bedrock-Trace")
	if id == "" {
		if v != "" {
			return nil, apierr.New(apierr.Validation, "X-Amzn-Bedrock-GuardrailVersion needs X-Amzn-Bedrock-GuardrailIdentifier")
		}
		return nil, nil
	}
	switch trace {
	case "", "ENABLED", "DISABLED", "ENABLED_FULL":
	default:
		return nil, apierr.New(apierr.Validation, "X-Amzn-Bedrock-Trace must be ENABLED, DISABLED or ENABLED_FULL, not %q", trace)
	}
	mode := ""
	switch streamMode {
	case "", "SYNCHRONOUS":
	case "ASYNCHRONOUS":
		mode = "async"
	default:
		return nil, apierr.New(apierr.Validation, "amazon-bedrock-guardrailConfig.streamProcessingMode must be SYNCHRONOUS or ASYNCHRONOUS")
	}
	return h.useGuardrail(ctx, p, inv, &guardrailConfig{GuardrailIdentifier: id, GuardrailVersion: v, Trace: trace, StreamProcessingMode: mode}, true)
}

// addInvokeTrace adds InvokeModel's guardrail action and, with the trace
// enabled, its trace to a response body.
func (gc *guardrailConfig) addInvokeTrace(body map[string]any, res *runtime.Result) {
	if gc == nil || res.Guardrail == nil {
		return
	}
	action := "NONE"
	if res.Guardrail.Intervened() {
		action = "INTERVENED"
	}
	body["amazon-bedrock-guardrailAction"] = action
	if !gc.traced() {
		return
	}
	t := map[string]any{}
	if g := res.Guardrail; g.Input != nil {
		t["input"] = map[string]any{gc.id: assessmentOf(g.Input, g.InputLatency)}
	}
	if g := res.Guardrail; g.Output != nil {
		t["outputs"] = []any{map[string]any{gc.id: assessmentOf(g.Output, g.OutputLatency)}}
	}
	if m := res.Guardrail.ModelOutput; m != "" {
		t["modelOutput"] = []string{m}
	}
	body["amazon-bedrock-trace"] = map[string]any{"guardrail": t}
}
