package sqlite

import (
	"path/filepath"
	"testing"

	"strata/internal/store"
	"strata/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := Open(t.Context(), filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}
