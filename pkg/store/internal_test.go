package store

import (
	"slices"
	"testing"
)

func TestMigrationsOfBothDialectsMatch(t *testing.T) {
	names := func(dialect string) []string {
		ms, err := loadMigrations(dialect)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.name)
		}
		return out
	}
	sqlite, postgres := names("sqlite"), names("postgres")
	if len(sqlite) == 0 || !slices.Equal(sqlite, postgres) {
		t.Errorf("SQLite migrations %v, PostgreSQL migrations %v: both dialects need the same ones", sqlite, postgres)
	}
}

func TestNumberPlaceholders(t *testing.T) {
	got := numberPlaceholders("SELECT x FROM t WHERE a = ? AND (b, c) > (?, ?) LIMIT ?")
	if want := "SELECT x FROM t WHERE a = $1 AND (b, c) > ($2, $3) LIMIT $4"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
