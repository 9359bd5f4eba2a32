package events

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update to accept):\n got %s\nwant %s", name, got, want)
	}
}

func TestEventJSONGolden(t *testing.T) {
	created := time.Date(2026, 11, 21, 10, 5, 17, 978_000_000, time.UTC)
	ended := time.Date(2026, 11, 21, 12, 34, 56, 123_456_789, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		e    Event
	}{
		{"customization_failed.json", CustomizationJobStateChange("us-east-1", "123456789012", CustomizationDetail{
			JobName:         "abcd-wxyz",
			JobArn:          "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/abcdefghwxyz",
			OutputModelName: "my-model",
			RoleArn:         "arn:aws:iam::123456789012:role/JobExecutionRole",
			JobStatus:       "Failed",
			FailureMessage:  "Training data contains card numbers.",
			CreationTime:    created, LastModifiedTime: ended, EndTime: ended,
			BaseModelArn:         "arn:aws:bedrock:us-east-1::foundation-model/mistral-7b",
			HyperParameters:      map[string]string{"epochCount": "2", "batchSize": "1", "learningRate": "0.00001"},
			TrainingDataConfig:   &S3Location{"s3://data/train.jsonl"},
			ValidationDataConfig: &ValidationDataConfig{Validators: []S3Location{{"s3://data/validation.jsonl"}}},
			OutputDataConfig:     &S3Location{"s3://out/"},
		}, ended)},
		{"customization_in_progress.json", CustomizationJobStateChange("eu-west-1", "123456789012", CustomizationDetail{
			JobName: "j", JobArn: "arn:aws:bedrock:eu-west-1:123456789012:model-customization-job/j1",
			JobStatus: "InProgress", CreationTime: created, LastModifiedTime: created,
		}, created)},
		{"import_completed.json", ImportJobStateChange("us-east-1", "123456789012", ImportDetail{
			JobName: "import-1", JobArn: "arn:aws:bedrock:us-east-1:123456789012:model-import-job/abc123",
			ImportedModelName: "support-7b", ImportedModelArn: "arn:aws:bedrock:us-east-1:123456789012:imported-model/xyz789",
			RoleArn: "arn:aws:iam::123456789012:role/Import", JobStatus: "Completed",
			CreationTime: created, LastModifiedTime: ended, EndTime: ended, ModelDataSource: "s3://models/support-7b/",
		}, ended)},
	}
	uuidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	timeRE := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !uuidRE.MatchString(tc.e.ID) {
				t.Errorf("id %q is not a random UUID", tc.e.ID)
			}
			tc.e.ID = "00000000-0000-4000-8000-000000000000" // fixed for the golden file
			b, err := json.Marshal(tc.e)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"} {
				if _, ok := m[k]; !ok {
					t.Errorf("no %q in %s", k, b)
				}
			}
			if len(m) != 9 || m["source"] != "aws.bedrock" || m["version"] != "0" || !timeRE.MatchString(m["time"].(string)) {
				t.Errorf("envelope %s", b)
			}
			d := m["detail"].(map[string]any)
			if _, ok := d["status"]; ok || d["jobStatus"] == nil || d["version"] != "0.0" {
				t.Errorf("detail %v: want jobStatus (not status) and version 0.0", d)
			}
			if res := m["resources"].([]any); len(res) != 1 || res[0] != d["jobArn"] {
				t.Errorf("resources %v, want the job ARN", res)
			}
			var back Event
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tc.e) {
				t.Errorf("round trip: %+v, want %+v", back, tc.e)
			}
			var pretty bytes.Buffer
			json.Indent(&pretty, b, "", "  ")
			pretty.WriteByte('\n')
			golden(t, tc.name, pretty.Bytes())
		})
	}
}

func TestEventJSONNormalizes(t *testing.T) {
	e := Event{Version: "0", ID: "x", DetailType: "d", Source: Source, Time: time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.FixedZone("X", -5*3600))}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":"0","id":"x","detail-type":"d","source":"aws.bedrock","account":"","time":"2026-01-02T08:04:05Z","region":"","resources":[],"detail":{}}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	// Ops fills an id, version, source and time, and refuses bad detail.
	b2, err := New(Options{Store: nopStore{}, Endpoints: []Endpoint{{Name: "a", URL: "http://127.0.0.1/"}}})
	if err != nil {
		t.Fatal(err)
	}
	ops := b2.Ops(Event{DetailType: "d", Detail: json.RawMessage(`{"a":1}`)})
	if len(ops) != 1 {
		t.Fatalf("ops %v", ops)
	}
	var en entry
	if err := json.Unmarshal(ops[0].Create.Data, &en); err != nil {
		t.Fatal(err)
	}
	var got Event
	if err := json.Unmarshal(en.Event, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID == "" || got.ID != en.EventID || got.Version != "0" || got.Source != Source || got.Time.IsZero() ||
		ops[0].Create.ID != got.ID+"/a" || ops[0].Create.Kind != KindOutbox || ops[0].Create.Account != "" {
		t.Errorf("Ops recorded %+v as %+v", got, ops[0].Create)
	}
	if ops := b2.Ops(Event{DetailType: "d", Detail: json.RawMessage(`{bad`)}); ops != nil || b2.Stats().Dropped != 1 {
		t.Errorf("Ops with invalid detail = %v, stats %+v", ops, b2.Stats())
	}
}

func TestNewIDUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newID()
		if seen[id] {
			t.Fatalf("repeated id %s", id)
		}
		seen[id] = true
	}
}
