package events_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"time"

	"strata/internal/events"
)

// A receiver verifies the signature over the raw body before parsing it.
func ExampleVerify() {
	secret := os.Getenv("STRATA_WEBHOOK_SECRET")
	http.HandleFunc("POST /strata-events", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if err := events.Verify(secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var e events.Event
		if err := json.Unmarshal(body, &e); err != nil {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		// Skip e.ID if already processed; then act on e.DetailType and e.Detail.
		w.WriteHeader(http.StatusNoContent)
	})
}
