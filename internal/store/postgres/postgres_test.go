package postgres_test

import (
	"testing"

	"strata/internal/store"
	"strata/internal/store/postgres/pgtest"
	"strata/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return pgtest.Open(t) })
}
