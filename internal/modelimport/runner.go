package modelimport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"strata/internal/arn"
	"strata/internal/iam"
	"strata/internal/store"
)

// leaseTime is how long a job's claim lasts without a heartbeat. Another
// node takes over a job whose lease has run out; this node takes back its
// own jobs at once after a restart.
const leaseTime = 30 * time.Second

// Run executes queued import jobs until ctx is done, one at a time, taking
// over unfinished jobs left by a previous run of this node at start.
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
				s.log.Error("claiming an import job", "err", err)
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

// claim takes the lease of the oldest claimable queued job.
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
			s.o.Store.Delete(ctx, q.Key(), 0) // a queue entry without its job
			continue
		}
		if err != nil {
			return nil, err
		}
		j, err := jobFrom(r)
		if err != nil {
			return nil, err
		}
		if j.Status != StatusInProgress {
			s.o.Store.Delete(ctx, q.Key(), 0)
			continue
		}
		if j.LeaseOwner != "" && j.LeaseOwner != s.o.NodeID && now.Before(j.LeaseUntil) {
			continue // another node is running it
		}
		resumed := j.LeaseOwner != ""
		j.LeaseOwner, j.LeaseUntil = s.o.NodeID, now.Add(leaseTime)
		j.Attempts++
		j.BytesDone = 0
		if err := s.save(ctx, j); err != nil {
			if errors.Is(err, store.ErrConflict) {
				continue // someone else claimed it first
			}
			return nil, err
		}
		if resumed {
			s.log.Info("resuming an interrupted import job", "job", j.ARN, "attempt", j.Attempts)
		}
		return j, nil
	}
	return nil, nil
}

// save writes j back with an optimistic version check.
func (s *Service) save(ctx context.Context, j *Job) error {
	j.Modified = s.o.Now().UTC()
	r, err := s.o.Store.Update(ctx, jobRecord(j))
	if err != nil {
		return err
	}
	j.version = r.Version
	return nil
}

// maxAttempts bounds how often an interrupted job is retried before it
// fails for good.
const maxAttempts = 3

// execute runs one claimed job to Completed or Failed.
func (s *Service) execute(ctx context.Context, j *Job) {
	log := s.log.With("job", j.ARN)
	if j.Attempts > maxAttempts {
		s.finish(ctx, j, nil, fmt.Errorf("the import was interrupted %d times; giving up", maxAttempts))
		return
	}
	// Heartbeat the lease and publish progress while the copy runs.
	var done, total atomic.Int64
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
				j.BytesDone, j.BytesTotal = done.Load(), total.Load()
				j.LeaseUntil = s.o.Now().UTC().Add(leaseTime)
				if err := s.save(runCtx, j); err != nil && runCtx.Err() == nil {
					log.Warn("lost the import job's lease", "err", err)
					cancel()
					return
				}
			}
		}
	}()
	m, err := s.importModel(runCtx, j, &done, &total)
	cancel()
	<-hbDone
	if ctx.Err() != nil {
		return // shutting down: the job stays InProgress and resumes on restart
	}
	j.BytesDone, j.BytesTotal = done.Load(), total.Load()
	s.finish(ctx, j, m, err)
}

// finish records the job's outcome. A completed job and its model are
// written in one transaction, so the model appears exactly when the job
// completes.
func (s *Service) finish(ctx context.Context, j *Job, m *Model, jobErr error) {
	log := s.log.With("job", j.ARN)
	// Re-read: the heartbeat may have bumped the version.
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
	cur.Modified, cur.Ended, cur.LeaseOwner, cur.LeaseUntil = now, now, "", time.Time{}
	cur.BytesDone, cur.BytesTotal = j.BytesDone, j.BytesTotal
	qk := store.Key{Kind: kindQueue, ID: j.ID}
	ops := []store.Op{{Delete: &qk}}
	if jobErr == nil {
		cur.Status = StatusCompleted
		cur.ImportedModelARN = m.ARN
		m.Created = now
		mr := modelRecord(m)
		ops = append(ops, store.Op{Create: &mr})
	} else {
		cur.Status = StatusFailed
		cur.FailureMessage = failureMessage(jobErr)
		if m != nil {
			s.deleteFiles(ctx, m)
		}
	}
	jr := jobRecord(cur)
	ops = append(ops, store.Op{Update: &jr})
	ops = append(ops, s.stateChange(cur)...)
	if err := s.o.Store.Apply(ctx, ops); err != nil {
		if jobErr == nil {
			if ce, ok := errors.AsType[*store.ConflictError](err); ok && ce.Field == "name" {
				s.deleteFiles(ctx, m)
				s.finish(ctx, j, nil, &ValidationError{Msg: "an imported model named " + j.ImportedModelName + " was created while this job ran"})
				return
			}
		}
		log.Error("recording the job's outcome", "err", err)
		return
	}
	s.wakeEvents()
	if jobErr != nil {
		log.Warn("import job failed", "reason", cur.FailureMessage)
	} else {
		log.Info("import job completed", "model", m.ARN, "bytes", m.TotalBytes)
	}
}

func failureMessage(err error) string {
	if v, ok := errors.AsType[*ValidationError](err); ok {
		return v.Msg
	}
	if d, ok := errors.AsType[*iam.DeniedError](err); ok {
		return "Access denied while reading the model data source: " + d.Error()
	}
	return "The import failed: " + err.Error()
}

func (s *Service) deleteFiles(ctx context.Context, m *Model) {
	DeleteFiles(ctx, s.o.Artifacts, m, s.log)
}

// importModel reads the source as the job's role, validates it, and copies
// every file hashed and encrypted into the artifact store.
func (s *Service) importModel(ctx context.Context, j *Job, done, total *atomic.Int64) (*Model, error) {
	role, err := s.o.Directory.GetRole(ctx, j.RoleARN)
	if err != nil {
		return nil, &ValidationError{Msg: fmt.Sprintf("the role %s could not be read: %v", j.RoleARN, err)}
	}
	sess, err := iam.AssumeRoleAsService(ctx, s.o.Authorizer, role, "bedrock.amazonaws.com", j.Account, j.ARN, "import-"+j.ID)
	if err != nil {
		return nil, &ValidationError{Msg: "Bedrock could not assume the role " + j.RoleARN + ": " + err.Error()}
	}
	loc, err := ParseURI(j.SourceURI)
	if err != nil {
		return nil, &ValidationError{Msg: err.Error()}
	}
	var src Source
	if loc.Scheme == "s3" {
		if err := s.o.Authorizer.Authorize(ctx, iam.Request{Principal: sess, Action: "s3:ListBucket",
			Resource: arn.S3(loc.Bucket, ""), ResourceAccount: s.o.BucketOwner}); err != nil {
			return nil, err
		}
		src = s.bucketSource(loc)
	} else {
		src = DirSource("", loc.Prefix)
	}
	files, err := src.List(ctx)
	if err != nil {
		return nil, &ValidationError{Msg: fmt.Sprintf("the source %s cannot be listed: %v", j.SourceURI, err)}
	}
	if len(files) == 0 {
		return nil, &ValidationError{Msg: "the source " + j.SourceURI + " holds no files"}
	}
	if loc.Scheme == "s3" {
		for _, f := range files {
			if err := s.o.Authorizer.Authorize(ctx, iam.Request{Principal: sess, Action: "s3:GetObject",
				Resource: arn.S3(loc.Bucket, bucketObjectKey(loc, f)), ResourceAccount: s.o.BucketOwner}); err != nil {
				return nil, err
			}
		}
	}
	m := &Model{
		ARN: arn.Bedrock(s.o.Region, j.Account, "imported-model", j.ImportedModelID), ID: j.ImportedModelID,
		Name: j.ImportedModelName, Account: j.Account, JobName: j.Name, JobARN: j.ARN, SourceURI: j.SourceURI,
		KMSKeyARN: j.KMSKeyARN, Tags: j.ModelTags,
	}
	err = Store(ctx, Stored{Artifacts: s.o.Artifacts, Keys: s.o.Keys, Limits: s.o.Limits, Done: done, Total: total}, src, files, m)
	return m, err
}

// Stored says where and how [Store] keeps a model's files.
type Stored struct {
	Artifacts Artifacts // non-nil
	Keys      Keys      // non-nil
	Limits    Limits
	// Done and Total, if set, count the plaintext bytes copied and to copy.
	Done, Total *atomic.Int64
}

// Store validates the model folder files of src as an import does, then
// copies every file hashed and encrypted into the artifact store under a
// fresh data key made under m.KMSKeyARN and bound to m.ARN, and writes the
// manifest. m must have ARN, ID, Account and KMSKeyARN set; Store fills in
// Architecture, Instruct, Config, ModelUnits, WrappedKey, TotalBytes and
// Files. On error, m.Files lists what may have been written, for cleanup.
// Imports use it for their sources; model customization for the folders it
// trains.
func Store(ctx context.Context, st Stored, src Source, files []FileInfo, m *Model) error {
	if st.Done == nil {
		st.Done = new(atomic.Int64)
	}
	if st.Total == nil {
		st.Total = new(atomic.Int64)
	}
	v, err := Validate(ctx, src, files, st.Limits)
	if err != nil {
		return err
	}
	st.Total.Store(v.TotalBytes)
	encCtx := map[string]string{"aws:bedrock:arn": m.ARN}
	key, wrapped, err := st.Keys.DataKey(ctx, m.KMSKeyARN, encCtx)
	if err != nil {
		return fmt.Errorf("making the model's data key under %s: %w", m.KMSKeyARN, err)
	}
	defer clear(key)
	cfg, _ := json.Marshal(v.Config)
	m.Architecture, m.Instruct, m.WrappedKey, m.TotalBytes = v.Architecture, v.Instruct, wrapped, v.TotalBytes
	m.Config, m.ModelUnits = cfg, modelUnits(v.TotalBytes)
	for _, f := range files {
		mf, err := copyFile(ctx, st, src, f, m, key)
		m.Files = append(m.Files, mf)
		if err != nil {
			return fmt.Errorf("copying %s: %w", f.Name, err)
		}
	}
	manifest, _ := json.MarshalIndent(struct {
		Model string         `json:"model"`
		Files []ManifestFile `json:"files"`
	}{m.ARN, m.Files}, "", "  ")
	if _, err := st.Artifacts.Put(ctx, manifestKey(m), bytes.NewReader(manifest)); err != nil {
		return fmt.Errorf("writing the manifest: %w", err)
	}
	return nil
}

// DeleteFiles removes a stored model's files and manifest from the artifact
// store, logging what it could not remove.
func DeleteFiles(ctx context.Context, art Artifacts, m *Model, log *slog.Logger) {
	for _, f := range m.Files {
		if err := art.Delete(ctx, f.BlobKey); err != nil && log != nil {
			log.Warn("deleting model artifact", "model", m.ARN, "key", f.BlobKey, "err", err)
		}
	}
	art.Delete(ctx, manifestKey(m))
}

// bucketSource reads s3://BUCKET/PREFIX/ from the S3 server when one is
// configured, else from the embedded bucket folder BucketsDir/BUCKET/PREFIX.
func (s *Service) bucketSource(loc Location) Source {
	if s.o.S3 != nil {
		return S3Source(s.o.S3, loc.Bucket, loc.Prefix)
	}
	return DirSource(loc.Bucket, filepath.Join(s.o.BucketsDir, loc.Bucket, filepath.FromSlash(loc.Prefix)))
}

// modelUnits estimates Bedrock's custom model units per copy from size:
// one unit per started 10 GB of weights.
func modelUnits(size int64) int { return int(size/10_000_000_000) + 1 }

// copyFile streams one file through SHA-256 and encryption into the
// artifact store, in constant memory.
func copyFile(ctx context.Context, st Stored, src Source, f FileInfo, m *Model, key []byte) (ManifestFile, error) {
	mf := ManifestFile{Name: f.Name, Size: f.Size, BlobKey: fileKey(m, f.Name)}
	obj, err := src.Open(ctx, f)
	if err != nil {
		return mf, err
	}
	defer obj.Close()
	h := sha256.New()
	pr, pw := io.Pipe()
	go func() {
		enc, err := st.Keys.EncryptStream(pw, key, []byte(m.ARN+"/"+f.Name))
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		r := io.TeeReader(&ctxReader{ctx: ctx, r: obj, done: st.Done}, h)
		n, err := io.Copy(enc, r)
		if err == nil && n != f.Size {
			err = fmt.Errorf("read %d bytes, the source listed %d (the file changed during the import)", n, f.Size)
		}
		if err == nil {
			err = enc.Close()
		}
		pw.CloseWithError(err)
	}()
	_, err = st.Artifacts.Put(ctx, mf.BlobKey, pr)
	pr.CloseWithError(err) // unblock the writer if Put stopped early
	if err != nil {
		return mf, err
	}
	mf.SHA256 = hex.EncodeToString(h.Sum(nil))
	return mf, nil
}

// ctxReader stops a copy when ctx is done and counts progress.
type ctxReader struct {
	ctx  context.Context
	r    io.Reader
	done *atomic.Int64
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.done.Add(int64(n))
	return n, err
}
