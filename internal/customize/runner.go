package customize

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"strata/internal/arn"
	"strata/internal/chat"
	"strata/internal/finetune"
	"strata/internal/guard"
	"strata/internal/iam"
	"strata/internal/modelimport"
	"strata/internal/runtime"
	"strata/internal/store"
	"strata/internal/tokenizer"
	"strata/internal/trainingdata"
)

// leaseTime is how long a job's claim lasts without a heartbeat; see
// modelimport, whose jobs work the same way.
const leaseTime = 30 * time.Second

// maxAttempts bounds how often an interrupted job is restarted.
const maxAttempts = 3

// validationFileBytes bounds each validation file, as Bedrock does.
const validationFileBytes = 100 << 20

// Run executes queued jobs until ctx is done, one at a time, taking back
// this node's unfinished jobs at start.
func (s *Service) Run(ctx context.Context) error {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		for {
			j, err := s.claim(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.log.Error("claiming a customization job", "err", err)
				break
			}
			if j == nil {
				break
			}
			s.execute(ctx, j)
			if ctx.Err() != nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-s.wake:
		}
	}
}

// claim takes the lease of the oldest claimable queued job. A queued job
// asked to stop before it ran ends Stopped here.
func (s *Service) claim(ctx context.Context) (*Job, error) {
	queue, _, err := s.o.Store.List(ctx, store.Query{Kind: kindQueue, Ascending: true, Limit: 100})
	if err != nil {
		return nil, err
	}
	now := s.o.Now().UTC()
	for _, q := range queue {
		var ref struct{ Account string }
		if err := json.Unmarshal(q.Data, &ref); err != nil {
			return nil, fmt.Errorf("reading queue entry %s: %w", q.ID, err)
		}
		r, err := s.o.Store.Get(ctx, store.Key{Kind: KindJob, Account: ref.Account, ID: q.ID})
		if errors.Is(err, store.ErrNotFound) {
			s.o.Store.Delete(ctx, q.Key(), 0)
			continue
		}
		if err != nil {
			return nil, err
		}
		j, err := jobFrom(r)
		if err != nil {
			return nil, err
		}
		if j.Status != StatusInProgress && j.Status != StatusStopping {
			s.o.Store.Delete(ctx, q.Key(), 0)
			continue
		}
		if j.LeaseOwner != "" && j.LeaseOwner != s.o.NodeID && now.Before(j.LeaseUntil) {
			continue // another node is running it
		}
		if j.Status == StatusStopping {
			s.finish(ctx, j, nil, errStopped)
			continue
		}
		resumed := j.LeaseOwner != ""
		j.LeaseOwner, j.LeaseUntil = s.o.NodeID, now.Add(leaseTime)
		j.Attempts++
		if err := s.save(ctx, j); err != nil {
			if errors.Is(err, store.ErrConflict) {
				continue
			}
			return nil, err
		}
		if resumed {
			s.log.Info("restarting an interrupted customization job", "job", j.ARN, "attempt", j.Attempts)
		}
		return j, nil
	}
	return nil, nil
}

func (s *Service) save(ctx context.Context, j *Job) error {
	j.Modified = s.o.Now().UTC()
	r, err := s.o.Store.Update(ctx, jobRecord(j))
	if err != nil {
		return err
	}
	j.version = r.Version
	return nil
}

// errStopped ends a job that StopModelCustomizationJob asked to stop.
var errStopped = errors.New("stopped")

// failure is a job failure whose message is shown to the caller as is.
type failure struct{ msg string }

func (f *failure) Error() string { return f.msg }

func failf(format string, args ...any) error { return &failure{fmt.Sprintf(format, args...)} }

// progress is what a running job reports; the heartbeat writes it.
type progress struct {
	mu          sync.Mutex
	validation  Phase
	processing  Phase
	training    Phase
	step, steps int
}

func (p *progress) set(now time.Time, f func(*progress)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
	for _, ph := range []*Phase{&p.validation, &p.processing, &p.training} {
		if ph.Status != StatusNotStarted && ph.Created.IsZero() {
			ph.Created = now
		}
		if ph.Status != StatusNotStarted {
			ph.Modified = now
		}
	}
}

func (p *progress) apply(j *Job) {
	p.mu.Lock()
	defer p.mu.Unlock()
	j.Validation, j.DataProcessing, j.Training = p.validation, p.processing, p.training
	j.Step, j.Steps = p.step, p.steps
}

// execute runs one claimed job to Completed, Failed or Stopped.
func (s *Service) execute(ctx context.Context, j *Job) {
	log := s.log.With("job", j.ARN)
	if j.Attempts > maxAttempts {
		s.finish(ctx, j, nil, failf("The job was interrupted %d times; giving up", maxAttempts))
		return
	}
	now := s.o.Now().UTC()
	pr := &progress{validation: Phase{Status: StatusInProgress, Created: now, Modified: now},
		processing: Phase{Status: StatusNotStarted}, training: Phase{Status: StatusNotStarted}}
	var stop atomic.Bool
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				if !s.heartbeat(runCtx, j, pr, &stop) && runCtx.Err() == nil {
					log.Warn("lost the customization job's lease")
					cancel()
					return
				}
			}
		}
	}()
	m, err := s.customize(runCtx, j, pr, &stop)
	cancel()
	<-hbDone
	if ctx.Err() != nil {
		return // shutting down: the job stays InProgress and restarts
	}
	if stop.Load() && err != nil {
		err = errStopped
	}
	pr.apply(j)
	s.finish(ctx, j, m, err)
}

// heartbeat extends the lease and publishes progress; it notices a stop
// request. It returns false when the lease is lost.
func (s *Service) heartbeat(ctx context.Context, j *Job, pr *progress, stop *atomic.Bool) bool {
	r, err := s.o.Store.Get(ctx, store.Key{Kind: KindJob, Account: j.Account, ID: j.ID})
	if err != nil {
		return ctx.Err() != nil
	}
	cur, err := jobFrom(r)
	if err != nil || cur.LeaseOwner != s.o.NodeID {
		return false
	}
	if cur.Status == StatusStopping {
		stop.Store(true)
	}
	pr.apply(cur)
	cur.LeaseUntil = s.o.Now().UTC().Add(leaseTime)
	if err := s.save(ctx, cur); err != nil {
		return errors.Is(err, store.ErrConflict) || ctx.Err() != nil // a stop request raced us; next tick
	}
	return true
}

// finish records a job's outcome. A completed job and its custom model are
// written in one transaction.
func (s *Service) finish(ctx context.Context, j *Job, m *Model, jobErr error) {
	log := s.log.With("job", j.ARN)
	r, err := s.o.Store.Get(ctx, store.Key{Kind: KindJob, Account: j.Account, ID: j.ID})
	if err != nil {
		log.Error("reading the job to finish it", "err", err)
		return
	}
	cur, err := jobFrom(r)
	if err != nil {
		log.Error("reading the job to finish it", "err", err)
		return
	}
	now := s.o.Now().UTC()
	cur.Validation, cur.DataProcessing, cur.Training = j.Validation, j.DataProcessing, j.Training
	cur.Step, cur.Steps = j.Step, j.Steps
	cur.TrainingLoss, cur.ValidationLosses = j.TrainingLoss, j.ValidationLosses
	cur.Modified, cur.Ended, cur.LeaseOwner, cur.LeaseUntil = now, now, "", time.Time{}
	qk := store.Key{Kind: kindQueue, ID: j.ID}
	ops := []store.Op{{Delete: &qk}}
	endPhases := func(status string) {
		for _, ph := range []*Phase{&cur.Validation, &cur.DataProcessing, &cur.Training} {
			if ph.Status == StatusInProgress {
				ph.Status, ph.Modified = status, now
			}
		}
	}
	switch {
	case jobErr == nil:
		cur.Status = StatusCompleted
		m.Created = now
		mr := modelRecord(m)
		ops = append(ops, store.Op{Create: &mr})
	case errors.Is(jobErr, errStopped):
		cur.Status = StatusStopped
		endPhases(StatusStopped)
	default:
		cur.Status = StatusFailed
		cur.FailureMessage = failureMessage(jobErr)
		endPhases(StatusFailed)
	}
	if jobErr != nil && m != nil {
		modelimport.DeleteFiles(ctx, s.o.Artifacts, &m.Model, s.log)
	}
	jr := jobRecord(cur)
	ops = append(ops, store.Op{Update: &jr})
	ops = append(ops, s.stateChange(cur)...)
	if err := s.o.Store.Apply(ctx, ops); err != nil {
		if jobErr == nil {
			if ce, ok := errors.AsType[*store.ConflictError](err); ok && ce.Field == "name" {
				s.finish(ctx, j, m, failf("A custom model named %s was created while this job ran", j.OutputModelName))
				return
			}
		}
		log.Error("recording the job's outcome", "err", err)
		return
	}
	s.wakeEvents()
	s.audit(cur, "ModelCustomizationJobEnded", cur.Status, 0)
	switch cur.Status {
	case StatusCompleted:
		log.Info("customization job completed", "model", m.ARN, "training_loss", *cur.TrainingLoss)
	case StatusStopped:
		log.Info("customization job stopped")
	default:
		log.Warn("customization job failed", "reason", cur.FailureMessage)
	}
}

func failureMessage(err error) string {
	if f, ok := errors.AsType[*failure](err); ok {
		return f.msg
	}
	if v, ok := errors.AsType[*modelimport.ValidationError](err); ok {
		return "The trained model failed validation: " + v.Msg
	}
	if d, ok := errors.AsType[*iam.DeniedError](err); ok {
		return "Access denied: " + d.Error()
	}
	return "The customization failed: " + err.Error()
}

// customize runs the three phases of j and stores the custom model.
func (s *Service) customize(ctx context.Context, j *Job, pr *progress, stop *atomic.Bool) (*Model, error) {
	now := func() time.Time { return s.o.Now().UTC() }
	role, err := s.o.Directory.GetRole(ctx, j.RoleARN)
	if err != nil {
		return nil, failf("The role %s could not be read: %v", j.RoleARN, err)
	}
	sess, err := iam.AssumeRoleAsService(ctx, s.o.Authorizer, role, "bedrock.amazonaws.com", j.Account, j.ARN, "customize-"+j.ID)
	if err != nil {
		return nil, failf("Bedrock could not assume the role %s: %v", j.RoleARN, err)
	}
	out, err := parseS3URI(j.OutputDataURI, false)
	if err != nil {
		return nil, failf("outputDataConfig.s3Uri: %v", err)
	}
	out.Key += "model-customization-job-" + j.ID + "/"
	put := func(key string, body []byte) (string, error) {
		dst := location{Bucket: out.Bucket, Key: out.Key + key}
		if err := s.asRole(ctx, sess, "s3:PutObject", dst); err != nil {
			return "", failf("Cannot write %s as the role %s: %v", dst, j.RoleARN, err)
		}
		if err := s.o.Buckets.Put(ctx, dst.Bucket, dst.Key, body); err != nil {
			return "", failf("Cannot write %s: %v", dst, err)
		}
		return dst.String(), nil
	}

	// Validation: read, check and scan every data file before anything
	// else touches it.
	train, err := s.checkFile(ctx, sess, j, j.TrainingDataURI, "training", s.o.Limits.Data, put)
	if err != nil {
		return nil, err
	}
	var vals [][]trainingdata.Record
	for i, u := range j.ValidationURIs {
		lim := s.o.Limits.Data
		lim.MaxBytes = validationFileBytes
		recs, err := s.checkFile(ctx, sess, j, u, "validation-"+strconv.Itoa(i+1), lim, put)
		if err != nil {
			return nil, err
		}
		vals = append(vals, recs)
	}
	pr.set(now(), func(p *progress) {
		p.validation.Status, p.processing.Status = StatusCompleted, StatusInProgress
	})
	if stop.Load() {
		return nil, errStopped
	}

	// Data processing: the base model in plaintext, the records as tokens.
	base, err := s.findBase(ctx, j.Account, j.BaseModelARN)
	if err != nil {
		return nil, failf("The base model %s could not be read: %v", j.BaseModelARN, err)
	}
	if n := estimateParams(base.model); n > s.o.Limits.MaxParams {
		return nil, failf("The base model %s has about %d million parameters; strata's built-in trainer fine-tunes at most %d million", base.name, n/1_000_000, s.o.Limits.MaxParams/1_000_000)
	}
	if err := os.MkdirAll(s.o.PlainDir, 0o700); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(s.o.PlainDir, "customize-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	baseDir, outDir := filepath.Join(work, "base"), filepath.Join(work, "out")
	for _, d := range []string{baseDir, outDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, err
		}
	}
	plain := &runtime.ImportedModel{Model: base.model, Blobs: s.o.Artifacts, Keys: s.o.Keys}
	if err := plain.WriteFiles(ctx, baseDir); err != nil {
		return nil, fmt.Errorf("reading the base model: %w", err)
	}
	tok, err := tokenizer.Load(baseDir)
	if err != nil {
		return nil, failf("The base model's tokenizer could not be loaded: %v", err)
	}
	tmpl, err := chat.LoadTemplate(baseDir, tok)
	if err != nil {
		return nil, failf("The base model's chat template could not be read: %v", err)
	}
	trainSeqs, err := sequences(tok, tmpl, train, j.CustomizationType)
	if err != nil {
		return nil, err
	}
	if countTargets(trainSeqs) == 0 {
		return nil, failf("The training data has no tokens to learn from")
	}
	valSeqs := make([][]finetune.Sequence, len(vals))
	for i, v := range vals {
		if valSeqs[i], err = sequences(tok, tmpl, v, j.CustomizationType); err != nil {
			return nil, err
		}
	}
	fm, err := finetune.Load(ctx, baseDir, finetune.Limits{MaxParams: s.o.Limits.MaxParams})
	if err != nil {
		return nil, failf("The base model cannot be fine-tuned by strata's built-in trainer: %v", err)
	}
	pr.set(now(), func(p *progress) {
		p.processing.Status, p.training.Status = StatusCompleted, StatusInProgress
	})

	// Training, with Bedrock's step-wise metrics.
	opts, err := trainOptions(j.HyperParameters)
	if err != nil {
		return nil, err
	}
	var metrics bytes.Buffer
	metrics.WriteString("step_number,epoch_number,training_loss,perplexity\n")
	var last float64
	opts.OnStep = func(st finetune.StepInfo) error {
		fmt.Fprintf(&metrics, "%d,%d,%s,%s\n", st.Step, st.Epoch, formatFloat(st.Loss), formatFloat(math.Exp(st.Loss)))
		last = st.Loss
		pr.set(now(), func(p *progress) { p.step, p.steps = st.Step+1, st.Steps })
		if stop.Load() {
			return errStopped
		}
		return nil
	}
	if err := fm.Train(ctx, trainSeqs, opts); err != nil {
		return nil, err
	}
	j.TrainingLoss = &last
	j.ValidationLosses = nil
	if len(valSeqs) > 0 {
		var vm bytes.Buffer
		vm.WriteString("step_number,epoch_number,validation_loss,perplexity\n")
		for _, vs := range valSeqs {
			loss, err := fm.Loss(ctx, vs)
			if err != nil {
				return nil, err
			}
			j.ValidationLosses = append(j.ValidationLosses, loss)
			fmt.Fprintf(&vm, "%d,%d,%s,%s\n", max(pr.stepDone()-1, 0), opts.Epochs, formatFloat(loss), formatFloat(math.Exp(loss)))
		}
		if _, err := put("validation_artifacts/post_fine_tuning_validation/validation/validation_metrics.csv", vm.Bytes()); err != nil {
			return nil, err
		}
	}
	if _, err := put("training_artifacts/step_wise_training_metrics.csv", metrics.Bytes()); err != nil {
		return nil, err
	}

	// The trained folder: the trainer's config and weights, the base
	// model's tokenizer and other files, stored as an import is.
	if err := fm.Save(outDir); err != nil {
		return nil, fmt.Errorf("saving the trained model: %w", err)
	}
	if err := copyTokenizerFiles(baseDir, outDir); err != nil {
		return nil, err
	}
	files, err := modelimport.DirSource("", outDir).List(ctx)
	if err != nil {
		return nil, err
	}
	m := &Model{
		Model: modelimport.Model{ARN: j.OutputModelARN, ID: j.OutputModelID, Name: j.OutputModelName, Account: j.Account,
			JobName: j.Name, JobARN: j.ARN, SourceURI: j.TrainingDataURI, KMSKeyARN: j.KMSKeyARN, Tags: j.ModelTags},
		BaseModelARN: base.model.ARN, BaseModelName: base.name, CustomizationType: j.CustomizationType,
		HyperParameters: j.HyperParameters, TrainingDataURI: j.TrainingDataURI, ValidationURIs: j.ValidationURIs,
		OutputDataURI: j.OutputDataURI, TrainingLoss: j.TrainingLoss, ValidationLosses: j.ValidationLosses,
	}
	if err := modelimport.Store(ctx, modelimport.Stored{Artifacts: s.o.Artifacts, Keys: s.o.Keys, Limits: s.o.Limits.Model},
		modelimport.DirSource("", outDir), files, &m.Model); err != nil {
		return m, err
	}
	pr.set(now(), func(p *progress) { p.training.Status = StatusCompleted })
	return m, nil
}

func (p *progress) stepDone() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.step
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }

// asRole authorizes action on an object for the job's role session.
func (s *Service) asRole(ctx context.Context, sess *iam.Principal, action string, l location) error {
	return s.o.Authorizer.Authorize(ctx, iam.Request{Principal: sess, Action: action,
		Resource: arn.S3(l.Bucket, l.Key), ResourceAccount: s.o.BucketOwner})
}

// checkFile reads one data file as the job's role, validates and scans
// it, and writes the scan report to the job's output. A file holding card
// data fails the job.
func (s *Service) checkFile(ctx context.Context, sess *iam.Principal, j *Job, uri, name string, lim trainingdata.Limits,
	put func(string, []byte) (string, error)) ([]trainingdata.Record, error) {
	loc, err := parseS3URI(uri, true)
	if err != nil {
		return nil, failf("%s: %v", uri, err)
	}
	if err := s.asRole(ctx, sess, "s3:GetObject", loc); err != nil {
		return nil, failf("Cannot read %s as the role %s: %v", uri, j.RoleARN, err)
	}
	rc, err := s.o.Buckets.Get(ctx, loc.Bucket, loc.Key)
	if err != nil {
		return nil, failf("Cannot read %s: %v", uri, err)
	}
	defer rc.Close()
	recs, rep, err := trainingdata.Check(rc, uri, j.CustomizationType, lim, trainingdata.ScanOptions{})
	if rep != nil {
		body, _ := json.MarshalIndent(rep, "", "  ")
		where, perr := put("validation_artifacts/sensitive_data_scan/"+name+".json", body)
		if perr != nil {
			return nil, perr
		}
		if rep.Verdict != "CLEAN" {
			n := 0
			for typ, c := range rep.ByType {
				if guard.Entity(typ).IsCard() {
					n += c.Count
				}
			}
			s.audit(j, "ScanTrainingData", "SensitiveDataBlocked", n)
			s.log.Warn("customization data blocked: card data found", "job", j.ARN, "file", uri, "summary", rep.Summary())
			return nil, failf("%s; see %s", rep.Summary(), where)
		}
	}
	if err != nil {
		if fe, ok := errors.AsType[*trainingdata.FormatError](err); ok {
			return nil, failf("%s (in %s)", fe.Msg, uri)
		}
		return nil, fmt.Errorf("reading %s: %w", uri, err)
	}
	return recs, nil
}

// copyTokenizerFiles copies every file of the base folder but its weights
// and config into the trained folder.
func copyTokenizerFiles(baseDir, outDir string) error {
	entries, err := os.ReadDir(baseDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || name == "config.json" || strings.HasSuffix(name, ".safetensors") ||
			strings.HasSuffix(name, ".safetensors.index.json") {
			continue
		}
		if _, err := os.Stat(filepath.Join(outDir, name)); err == nil {
			continue // the trainer wrote its own
		}
		b, err := os.ReadFile(filepath.Join(baseDir, name))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(outDir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// sequences tokenizes records for training.
//
// A prompt/completion pair, or continued pre-training's text, is joined as
// written, so "...Agent:" + " I understand" reads as it will when the
// model is invoked with that prompt (InvokeModel sends a prompt as is).
// A conversation (bedrock-conversation-2024) is formatted with the base
// model's chat template, as Converse formats its messages, so the model
// learns its replies where Converse will ask for them.
//
// Fine-tuning learns the completion or the assistant turns (each with its
// end token) and, for a pair, the end-of-sequence token; continued
// pre-training learns every token.
func sequences(tok *tokenizer.Tokenizer, tmpl chat.Template, recs []trainingdata.Record, typ string) ([]finetune.Sequence, error) {
	out := make([]finetune.Sequence, 0, len(recs))
	for _, r := range recs {
		var seq finetune.Sequence
		var err error
		if r.Conversation {
			seq, err = conversation(tok, tmpl, r)
		} else {
			seq = plain(tok, r, typ)
		}
		if err != nil {
			return nil, failf("The record at line %d cannot be formatted with the base model's chat template: %v", r.Line, err)
		}
		out = append(out, seq)
	}
	return out, nil
}

// plain tokenizes a pair or a text as written; see sequences.
func plain(tok *tokenizer.Tokenizer, r trainingdata.Record, typ string) finetune.Sequence {
	var full strings.Builder
	var ends []int // where each turn ends in full
	for _, t := range r.Turns {
		full.WriteString(t.Text)
		ends = append(ends, full.Len())
	}
	text := full.String()
	ids := tok.Encode(text, tok.AddBOS())
	target := make([]bool, len(ids))
	done := 0
	for i, t := range r.Turns {
		n := commonPrefix(tok.Encode(text[:ends[i]], tok.AddBOS()), ids)
		if i == len(r.Turns)-1 {
			n = len(ids)
		}
		for k := done; k < n; k++ {
			target[k] = typ == ContinuedPreTraining || t.Role == "assistant"
		}
		done = max(done, n)
	}
	if eos := tok.EOS(); len(eos) > 0 && typ == FineTuning {
		ids = append(ids, eos[0])
		target = append(target, true)
	}
	return finetune.Sequence{Tokens: ids, Target: target}
}

// conversation tokenizes a conversation with the chat template: the tokens
// that formatting each assistant turn adds after the prompt that asks for
// it are targets.
func conversation(tok *tokenizer.Tokenizer, tmpl chat.Template, r trainingdata.Record) (finetune.Sequence, error) {
	var msgs []chat.Message
	if r.System != "" {
		msgs = append(msgs, chat.Message{Role: chat.RoleSystem, Content: r.System})
	}
	for _, t := range r.Turns {
		msgs = append(msgs, chat.Message{Role: t.Role, Content: t.Text})
	}
	segs, err := chat.Format(tmpl, msgs, false)
	if err != nil {
		return finetune.Sequence{}, err
	}
	ids := chat.Encode(tok, segs)
	target := make([]bool, len(ids))
	for i, m := range msgs {
		if m.Role != chat.RoleAssistant {
			continue
		}
		ask, err := chat.Format(tmpl, msgs[:i], true)
		if err != nil {
			return finetune.Sequence{}, err
		}
		upto, err := chat.Format(tmpl, msgs[:i+1], false)
		if err != nil {
			return finetune.Sequence{}, err
		}
		from := commonPrefix(chat.Encode(tok, ask), ids)
		to := commonPrefix(chat.Encode(tok, upto), ids)
		for k := from; k < to; k++ {
			target[k] = true
		}
	}
	return finetune.Sequence{Tokens: ids, Target: target}, nil
}

func commonPrefix(a, b []int) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func countTargets(seqs []finetune.Sequence) int {
	n := 0
	for _, s := range seqs {
		for i, t := range s.Target {
			if i > 0 && t {
				n++
			}
		}
	}
	return n
}
