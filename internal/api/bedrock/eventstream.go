package bedrock

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"strata/internal/apierr"
)

// streamWriter writes an application/vnd.amazon.eventstream response, one
// flushed frame per event.
type streamWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	enc     *eventstream.Encoder
	started bool
}

func newStreamWriter(w http.ResponseWriter) *streamWriter {
	return &streamWriter{w: w, rc: http.NewResponseController(w), enc: eventstream.NewEncoder()}
}

func (s *streamWriter) start() {
	if s.started {
		return
	}
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", "application/vnd.amazon.eventstream")
	s.w.WriteHeader(http.StatusOK)
}

// event writes one event frame whose payload is v as JSON.
func (s *streamWriter) event(eventType string, v any) error {
	s.start()
	payload, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var h eventstream.Headers
	h.Set(":message-type", eventstream.StringValue("event"))
	h.Set(":event-type", eventstream.StringValue(eventType))
	h.Set(":content-type", eventstream.StringValue("application/json"))
	if err := s.enc.Encode(s.w, eventstream.Message{Headers: h, Payload: payload}); err != nil {
		return err
	}
	return s.rc.Flush()
}

// streamExceptions maps error kinds to the exception members the runtime
// streams declare (camelCase member names).
var streamExceptions = map[apierr.Kind]string{
	apierr.Internal:           "internalServerException",
	apierr.Validation:         "validationException",
	apierr.Throttling:         "throttlingException",
	apierr.ModelTimeout:       "modelTimeoutException",
	apierr.ServiceUnavailable: "serviceUnavailableException",
	apierr.ModelError:         "modelStreamErrorException",
	apierr.ModelStreamError:   "modelStreamErrorException",
}

// fail ends the stream with an exception frame. Before the first event it
// answers with a plain error response instead, as the service does for
// errors it finds before streaming.
func (s *streamWriter) fail(err error, writePlain func(error)) {
	if !s.started {
		writePlain(err)
		return
	}
	e := apierr.From(err)
	member, ok := streamExceptions[e.Kind]
	if !ok {
		member = "internalServerException"
	}
	body := map[string]any{"message": e.Message}
	if member == "modelStreamErrorException" {
		body["originalStatusCode"] = 500
		body["originalMessage"] = e.Message
	}
	payload, _ := json.Marshal(body)
	var h eventstream.Headers
	h.Set(":message-type", eventstream.StringValue("exception"))
	h.Set(":exception-type", eventstream.StringValue(member))
	h.Set(":content-type", eventstream.StringValue("application/json"))
	if s.enc.Encode(s.w, eventstream.Message{Headers: h, Payload: payload}) == nil {
		s.rc.Flush()
	}
}

// errClientGone marks a client that went away mid-stream.
var errClientGone = errors.New("client disconnected")

func isClientGone(err error) bool {
	return err != nil && (errors.Is(err, errClientGone) || strings.Contains(err.Error(), "broken pipe") || strings.Contains(err.Error(), "connection reset"))
}
