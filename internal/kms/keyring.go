package kms

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// KeyState is a key's lifecycle state, named as AWS names it.
type KeyState string

const (
	Enabled         KeyState = "Enabled"
	Disabled        KeyState = "Disabled"
	PendingDeletion KeyState = "PendingDeletion"
)

// Key managers, as AWS's KeyManager field names them.
const (
	ManagerCustomer = "CUSTOMER" // made by CreateKey
	ManagerAWS      = "AWS"      // a default service key made by DefaultKey
)

// Key is a key's metadata. It never carries key material.
type Key struct {
	ID                string
	ARN               string
	Account           string
	Region            string
	Description       string
	State             KeyState
	Manager           string
	CreationDate      time.Time
	DeletionDate      time.Time // zero unless State is PendingDeletion
	PendingWindowDays int       // set with DeletionDate
	Version           uint32    // current key material version, from 1
	Aliases           []string  // "alias/NAME", sorted
}

// keyRecord is a key in memory: metadata plus one AEAD per material version.
type keyRecord struct {
	meta     Key
	versions map[uint32]cipher.AEAD
	wrapped  []versionFile // as persisted
}

// KeyRing is a local, file-backed key ring. It is safe for concurrent use.
type KeyRing struct {
	dir    string // DIR/keys
	region string
	log    *slog.Logger
	root   cipher.AEAD

	mu   sync.RWMutex
	keys map[string]*keyRecord // by key id; +checklocks:mu
}

const (
	rootKeyFile = "root.key"
	fileFormat  = 1
)

// Open opens the key ring in dataDir/keys, creating the directory and the
// root key on first start. region names the region in key ARNs. A nil
// logger discards. Open refuses a directory that holds keys but no root
// key, and a root key file that others may read.
func Open(dataDir, region string, log *slog.Logger) (*KeyRing, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if region == "" {
		return nil, fmt.Errorf("opening key ring: %w: empty region", ErrValidation)
	}
	dir := filepath.Join(dataDir, "keys")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating key dir: %w", err)
	}
	k := &KeyRing{dir: dir, region: region, log: log, keys: map[string]*keyRecord{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading key dir: %w", err)
	}
	var keyFiles []string
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, ".tmp-"):
			// Left by a write interrupted before its rename: never visible.
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return nil, fmt.Errorf("removing interrupted write: %w", err)
			}
		case strings.HasSuffix(name, ".json") && validKeyID(strings.TrimSuffix(name, ".json")):
			keyFiles = append(keyFiles, name)
		}
	}
	rootBytes, err := k.loadRootKey(len(keyFiles) > 0)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(rootBytes)
	if err != nil {
		return nil, fmt.Errorf("root key: %w", err)
	}
	k.root, _ = cipher.NewGCM(block)
	for _, name := range keyFiles {
		rec, err := k.loadKey(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		k.keys[rec.meta.ID] = rec
	}
	log.Info("key ring open", "dir", dir, "keys", len(k.keys))
	return k, nil
}

func (k *KeyRing) loadRootKey(haveKeys bool) ([]byte, error) {
	p := filepath.Join(k.dir, rootKeyFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		if haveKeys {
			return nil, fmt.Errorf("root key %s is missing but keys exist; restore it from backup", p)
		}
		b = make([]byte, 32)
		rand.Read(b)
		if err := writeFileAtomic(k.dir, rootKeyFile, b); err != nil {
			return nil, fmt.Errorf("creating root key: %w", err)
		}
		k.log.Info("created root key", "path", p)
		return b, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading root key: %w", err)
	}
	info, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("stat root key: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("root key %s has mode %o; it must be readable by its owner only (chmod 600)", p, info.Mode().Perm())
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("root key %s has %d bytes, want 32", p, len(b))
	}
	return b, nil
}

// keyFile is a key as persisted.
type keyFile struct {
	Format            int           `json:"format"`
	ID                string        `json:"id"`
	Account           string        `json:"account"`
	Region            string        `json:"region"`
	Description       string        `json:"description,omitempty"`
	State             KeyState      `json:"state"`
	Manager           string        `json:"manager"`
	CreationDate      time.Time     `json:"creationDate"`
	DeletionDate      *time.Time    `json:"deletionDate,omitempty"`
	PendingWindowDays int           `json:"pendingWindowDays,omitempty"`
	Current           uint32        `json:"current"`
	Aliases           []string      `json:"aliases,omitempty"`
	Versions          []versionFile `json:"versions"`
}

type versionFile struct {
	Version  uint32    `json:"version"`
	Created  time.Time `json:"created"`
	Material []byte    `json:"material"` // nonce || AES-GCM(root, material)
}

// materialAAD binds wrapped material to its key and version, so material
// cannot be moved between keys or versions in the files.
func materialAAD(id string, version uint32) []byte {
	b := []byte("strata kms material v1\x00" + id + "\x00")
	return binary.BigEndian.AppendUint32(b, version)
}

func (k *KeyRing) loadKey(path string) (*keyRecord, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading key: %w", err)
	}
	var f keyFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("parsing key %s: %w", filepath.Base(path), err)
	}
	if f.Format != fileFormat || filepath.Base(path) != f.ID+".json" || len(f.Versions) == 0 {
		return nil, fmt.Errorf("key file %s is not a format-%d key", filepath.Base(path), fileFormat)
	}
	rec := &keyRecord{
		meta: Key{
			ID: f.ID, ARN: keyARN(f.Region, f.Account, f.ID), Account: f.Account, Region: f.Region,
			Description: f.Description, State: f.State, Manager: f.Manager, CreationDate: f.CreationDate,
			PendingWindowDays: f.PendingWindowDays, Version: f.Current, Aliases: f.Aliases,
		},
		versions: map[uint32]cipher.AEAD{},
		wrapped:  f.Versions,
	}
	if f.DeletionDate != nil {
		rec.meta.DeletionDate = *f.DeletionDate
	}
	for _, v := range f.Versions {
		ns := k.root.NonceSize()
		if len(v.Material) < ns {
			return nil, fmt.Errorf("key %s version %d: wrapped material too short", f.ID, v.Version)
		}
		m, err := k.root.Open(nil, v.Material[:ns], v.Material[ns:], materialAAD(f.ID, v.Version))
		if err != nil {
			return nil, fmt.Errorf("key %s version %d: unwrapping under the root key: %w", f.ID, v.Version, err)
		}
		rec.versions[v.Version], err = newAEAD(m)
		if err != nil {
			return nil, fmt.Errorf("key %s version %d: %w", f.ID, v.Version, err)
		}
	}
	if rec.versions[f.Current] == nil {
		return nil, fmt.Errorf("key %s: current version %d has no material", f.ID, f.Current)
	}
	return rec, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("key material is %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// save persists rec atomically. Caller holds mu.
func (k *KeyRing) save(rec *keyRecord) error {
	m := rec.meta
	f := keyFile{
		Format: fileFormat, ID: m.ID, Account: m.Account, Region: m.Region, Description: m.Description,
		State: m.State, Manager: m.Manager, CreationDate: m.CreationDate, PendingWindowDays: m.PendingWindowDays,
		Current: m.Version, Aliases: m.Aliases, Versions: rec.wrapped,
	}
	if !m.DeletionDate.IsZero() {
		d := m.DeletionDate
		f.DeletionDate = &d
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding key %s: %w", m.ID, err)
	}
	if err := writeFileAtomic(k.dir, m.ID+".json", b); err != nil {
		return fmt.Errorf("saving key %s: %w", m.ID, err)
	}
	return nil
}

// addVersion makes new key material for rec as the next version, wrapped
// under the root key. Caller holds mu.
func (k *KeyRing) addVersion(rec *keyRecord, now time.Time) error {
	material := make([]byte, 32)
	rand.Read(material)
	aead, err := newAEAD(material)
	if err != nil {
		return err
	}
	v := rec.meta.Version + 1
	nonce := make([]byte, k.root.NonceSize())
	rand.Read(nonce)
	wrapped := k.root.Seal(nonce, nonce, material, materialAAD(rec.meta.ID, v))
	clear(material)
	rec.versions[v] = aead
	rec.wrapped = append(rec.wrapped, versionFile{Version: v, Created: now.UTC(), Material: wrapped})
	rec.meta.Version = v
	return nil
}

// writeFileAtomic writes dir/name via a temporary file, fsync and rename,
// then fsyncs dir, with mode 0600.
func writeFileAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, ".tmp-"+name+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	ok = true
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func keyARN(region, account, id string) string {
	return "arn:aws:kms:" + region + ":" + account + ":key/" + id
}

func aliasARN(region, account, alias string) string {
	return "arn:aws:kms:" + region + ":" + account + ":" + alias
}

// newKeyID returns a random (version 4) UUID.
func newKeyID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// validKeyID reports whether s is a lower-case hyphenated UUID.
func validKeyID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// keyIDBytes and keyIDString convert between a key id and its 16 bytes.
func keyIDBytes(id string) [16]byte {
	var b [16]byte
	hex.Decode(b[:], []byte(strings.ReplaceAll(id, "-", "")))
	return b
}

func keyIDString(b []byte) string {
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

var accountRE = regexp.MustCompile(`^[0-9]{12}$`)

// CreateKey makes a new customer key in account, enabled, with one version
// of key material.
func (k *KeyRing) CreateKey(ctx context.Context, account, description string) (Key, error) {
	if !accountRE.MatchString(account) {
		return Key{}, fmt.Errorf("%w: account %q is not a 12-digit id", ErrValidation, account)
	}
	if len(description) > 8192 {
		return Key{}, fmt.Errorf("%w: description longer than 8192 characters", ErrValidation)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.createLocked(account, description, ManagerCustomer, nil)
}

// createLocked makes and persists a key. Caller holds mu.
func (k *KeyRing) createLocked(account, description, manager string, aliases []string) (Key, error) {
	id := newKeyID()
	now := time.Now().UTC()
	rec := &keyRecord{
		meta: Key{
			ID: id, ARN: keyARN(k.region, account, id), Account: account, Region: k.region,
			Description: description, State: Enabled, Manager: manager, CreationDate: now, Aliases: aliases,
		},
		versions: map[uint32]cipher.AEAD{},
	}
	if err := k.addVersion(rec, now); err != nil {
		return Key{}, err
	}
	if err := k.save(rec); err != nil {
		return Key{}, err
	}
	k.keys[id] = rec
	k.log.Info("created key", "arn", rec.meta.ARN, "manager", manager)
	return rec.meta.clone(), nil
}

func (m Key) clone() Key {
	m.Aliases = slices.Clone(m.Aliases)
	return m
}

// DefaultKey returns account's default key for service, alias
// alias/aws/SERVICE (as AWS's aws/bedrock), creating it on first use.
func (k *KeyRing) DefaultKey(ctx context.Context, account, service string) (Key, error) {
	if !accountRE.MatchString(account) {
		return Key{}, fmt.Errorf("%w: account %q is not a 12-digit id", ErrValidation, account)
	}
	if !aliasNameRE.MatchString(service) {
		return Key{}, fmt.Errorf("%w: service %q", ErrValidation, service)
	}
	alias := "alias/aws/" + service
	k.mu.Lock()
	defer k.mu.Unlock()
	if rec := k.byAliasLocked(account, alias); rec != nil {
		return rec.meta.clone(), nil
	}
	return k.createLocked(account, "Default key that protects my "+service+" data when no other key is defined", ManagerAWS, []string{alias})
}

func (k *KeyRing) byAliasLocked(account, alias string) *keyRecord {
	for _, rec := range k.keys {
		if rec.meta.Account == account && slices.Contains(rec.meta.Aliases, alias) {
			return rec
		}
	}
	return nil
}

// Resolve finds a key by any name AWS accepts: key id, key ARN, alias/NAME
// or alias ARN. Bare ids and alias names are looked up in account; ARNs
// name their account (cross-account use is the caller's policy decision).
func (k *KeyRing) Resolve(ctx context.Context, account, ref string) (Key, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	rec, err := k.resolveLocked(account, ref)
	if err != nil {
		return Key{}, err
	}
	return rec.meta.clone(), nil
}

// resolveLocked implements Resolve; account "" allows only key ids, key
// ARNs and alias ARNs. Caller holds mu.
func (k *KeyRing) resolveLocked(account, ref string) (*keyRecord, error) {
	notFound := fmt.Errorf("%w: key %q", ErrNotFound, clip(ref))
	switch {
	case validKeyID(ref):
		rec := k.keys[ref]
		if rec == nil || (account != "" && rec.meta.Account != account) {
			return nil, notFound
		}
		return rec, nil
	case strings.HasPrefix(ref, "alias/"):
		if account == "" {
			return nil, fmt.Errorf("%w: alias %q needs an account; use Resolve", ErrNotFound, clip(ref))
		}
		if rec := k.byAliasLocked(account, ref); rec != nil {
			return rec, nil
		}
		return nil, notFound
	case strings.HasPrefix(ref, "arn:aws:kms:"):
		parts := strings.SplitN(ref, ":", 6)
		if len(parts) != 6 || parts[3] != k.region || !accountRE.MatchString(parts[4]) {
			return nil, notFound
		}
		res := parts[5]
		if id, ok := strings.CutPrefix(res, "key/"); ok && validKeyID(id) {
			if rec := k.keys[id]; rec != nil && rec.meta.Account == parts[4] {
				return rec, nil
			}
			return nil, notFound
		}
		if strings.HasPrefix(res, "alias/") {
			if rec := k.byAliasLocked(parts[4], res); rec != nil {
				return rec, nil
			}
		}
		return nil, notFound
	}
	return nil, notFound
}

// DescribeKey returns a key's metadata in any state.
func (k *KeyRing) DescribeKey(ctx context.Context, ref string) (Key, error) {
	return k.Resolve(ctx, "", ref)
}

// ListKeys returns account's keys sorted by id.
func (k *KeyRing) ListKeys(ctx context.Context, account string) []Key {
	k.mu.RLock()
	defer k.mu.RUnlock()
	var out []Key
	for _, rec := range k.keys {
		if rec.meta.Account == account {
			out = append(out, rec.meta.clone())
		}
	}
	slices.SortFunc(out, func(a, b Key) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// update runs fn on the key under the write lock and persists the result;
// if fn or the save fails, the key is left as it was.
func (k *KeyRing) update(ref string, fn func(rec *keyRecord) error) (Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	rec, err := k.resolveLocked("", ref)
	if err != nil {
		return Key{}, err
	}
	saved := *rec
	saved.meta = rec.meta.clone()
	saved.wrapped = slices.Clone(rec.wrapped)
	if err := fn(rec); err != nil {
		return Key{}, err
	}
	if err := k.save(rec); err != nil {
		rec.meta, rec.wrapped = saved.meta, saved.wrapped
		return Key{}, err
	}
	return rec.meta.clone(), nil
}

// EnableKey enables a disabled key.
func (k *KeyRing) EnableKey(ctx context.Context, ref string) (Key, error) {
	return k.update(ref, func(rec *keyRecord) error {
		if rec.meta.State == PendingDeletion {
			return fmt.Errorf("%w: %s is pending deletion", ErrInvalidState, rec.meta.ARN)
		}
		rec.meta.State = Enabled
		return nil
	})
}

// DisableKey disables a key: it stays, but no cryptographic operation may
// use it until EnableKey.
func (k *KeyRing) DisableKey(ctx context.Context, ref string) (Key, error) {
	return k.update(ref, func(rec *keyRecord) error {
		if rec.meta.State == PendingDeletion {
			return fmt.Errorf("%w: %s is pending deletion", ErrInvalidState, rec.meta.ARN)
		}
		rec.meta.State = Disabled
		return nil
	})
}

// RotateKey adds a new version of key material and makes it current. Old
// versions remain to decrypt what was encrypted under them.
func (k *KeyRing) RotateKey(ctx context.Context, ref string) (Key, error) {
	return k.update(ref, func(rec *keyRecord) error {
		if err := usable(rec); err != nil {
			return err
		}
		if err := k.addVersion(rec, time.Now()); err != nil {
			return err
		}
		k.log.Info("rotated key", "arn", rec.meta.ARN, "version", rec.meta.Version)
		return nil
	})
}

// ScheduleKeyDeletion marks a key PendingDeletion for pendingDays (7 to 30;
// 0 means 30). It cannot be used meanwhile; CancelKeyDeletion undoes it, and
// PurgeDeleted destroys it once the window has passed.
func (k *KeyRing) ScheduleKeyDeletion(ctx context.Context, ref string, pendingDays int) (Key, error) {
	if pendingDays == 0 {
		pendingDays = 30
	}
	if pendingDays < 7 || pendingDays > 30 {
		return Key{}, fmt.Errorf("%w: pending window %d days is not within 7 to 30", ErrValidation, pendingDays)
	}
	return k.update(ref, func(rec *keyRecord) error {
		if rec.meta.State == PendingDeletion {
			return fmt.Errorf("%w: %s is pending deletion", ErrInvalidState, rec.meta.ARN)
		}
		rec.meta.State = PendingDeletion
		rec.meta.PendingWindowDays = pendingDays
		rec.meta.DeletionDate = time.Now().UTC().Add(time.Duration(pendingDays) * 24 * time.Hour)
		return nil
	})
}

// CancelKeyDeletion returns a key pending deletion to the Disabled state,
// as AWS does.
func (k *KeyRing) CancelKeyDeletion(ctx context.Context, ref string) (Key, error) {
	return k.update(ref, func(rec *keyRecord) error {
		if rec.meta.State != PendingDeletion {
			return fmt.Errorf("%w: %s is not pending deletion", ErrInvalidState, rec.meta.ARN)
		}
		rec.meta.State = Disabled
		rec.meta.DeletionDate = time.Time{}
		rec.meta.PendingWindowDays = 0
		return nil
	})
}

// DeleteKey destroys a key now: its file and every version of its material
// are removed, so nothing encrypted under it can be decrypted again.
func (k *KeyRing) DeleteKey(ctx context.Context, ref string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	rec, err := k.resolveLocked("", ref)
	if err != nil {
		return err
	}
	return k.deleteLocked(rec)
}

func (k *KeyRing) deleteLocked(rec *keyRecord) error {
	if err := os.Remove(filepath.Join(k.dir, rec.meta.ID+".json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting key %s: %w", rec.meta.ID, err)
	}
	if err := syncDir(k.dir); err != nil {
		return fmt.Errorf("deleting key %s: %w", rec.meta.ID, err)
	}
	delete(k.keys, rec.meta.ID)
	clear(rec.versions)
	k.log.Info("deleted key", "arn", rec.meta.ARN)
	return nil
}

// PurgeDeleted destroys every key whose deletion date is not after now and
// returns their ARNs. Call it periodically.
func (k *KeyRing) PurgeDeleted(ctx context.Context, now time.Time) ([]string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var purged []string
	for _, rec := range k.keys {
		if rec.meta.State == PendingDeletion && !rec.meta.DeletionDate.After(now) {
			if err := k.deleteLocked(rec); err != nil {
				return purged, err
			}
			purged = append(purged, rec.meta.ARN)
		}
	}
	slices.Sort(purged)
	return purged, nil
}

var aliasNameRE = regexp.MustCompile(`^[a-zA-Z0-9/_-]{1,250}$`)

// CreateAlias points alias (alias/NAME; NAME of letters, digits, '/', '_'
// and '-', not starting with aws/) at a key of the same account.
func (k *KeyRing) CreateAlias(ctx context.Context, alias, targetRef string) error {
	name, ok := strings.CutPrefix(alias, "alias/")
	if !ok || !aliasNameRE.MatchString(name) || strings.HasPrefix(name, "aws/") {
		return fmt.Errorf("%w: %q", ErrInvalidAlias, clip(alias))
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	rec, err := k.resolveLocked("", targetRef)
	if err != nil {
		return err
	}
	if rec.meta.State == PendingDeletion {
		return fmt.Errorf("%w: %s is pending deletion", ErrInvalidState, rec.meta.ARN)
	}
	if k.byAliasLocked(rec.meta.Account, alias) != nil {
		return fmt.Errorf("%w: alias %s", ErrAlreadyExists, aliasARN(k.region, rec.meta.Account, alias))
	}
	old := rec.meta.Aliases
	rec.meta.Aliases = append(slices.Clone(old), alias)
	slices.Sort(rec.meta.Aliases)
	if err := k.save(rec); err != nil {
		rec.meta.Aliases = old
		return err
	}
	return nil
}

// DeleteAlias removes an alias of account; the key is unaffected.
func (k *KeyRing) DeleteAlias(ctx context.Context, account, alias string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	rec := k.byAliasLocked(account, alias)
	if rec == nil || strings.HasPrefix(alias, "alias/aws/") {
		return fmt.Errorf("%w: alias %q", ErrNotFound, clip(alias))
	}
	old := rec.meta.Aliases
	rec.meta.Aliases = slices.DeleteFunc(slices.Clone(old), func(a string) bool { return a == alias })
	if err := k.save(rec); err != nil {
		rec.meta.Aliases = old
		return err
	}
	return nil
}

// usable reports whether a key may be used for cryptography.
func usable(rec *keyRecord) error {
	switch rec.meta.State {
	case Enabled:
		return nil
	case Disabled:
		return fmt.Errorf("%w: %s is disabled", ErrDisabled, rec.meta.ARN)
	default:
		return fmt.Errorf("%w: %s is pending deletion", ErrInvalidState, rec.meta.ARN)
	}
}

// clip bounds caller-supplied names echoed in errors.
func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}
