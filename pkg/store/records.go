package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// PutScan stores the scan of an image digest. A scan older (by ScannedAt)
// than the one stored is ignored, so a slow scanner cannot overwrite a newer
// result; an equally old one replaces it.
func (s *sqlStore) PutScan(ctx context.Context, scan ScanRecord) error {
	if scan.Digest == "" {
		return errors.New("put scan: the scan has no digest")
	}
	err := s.db.write(ctx, func(q querier) error {
		_, err := q.exec(ctx, `INSERT INTO scans (digest, scanned_at, db_updated_at, result) VALUES (?, ?, ?, ?)
			ON CONFLICT (digest) DO UPDATE SET scanned_at = excluded.scanned_at, db_updated_at = excluded.db_updated_at, result = excluded.result
			WHERE excluded.scanned_at >= scans.scanned_at`,
			scan.Digest, s.d.timeArg(normTime(scan.ScannedAt)), s.d.timeArg(normTime(scan.DBUpdatedAt)), nullBytes(scan.Result))
		return err
	})
	if err != nil {
		return fmt.Errorf("put scan of %s: %w", scan.Digest, err)
	}
	return nil
}

// Scan returns the stored scan of a digest.
func (s *sqlStore) Scan(ctx context.Context, digest string) (ScanRecord, error) {
	r := ScanRecord{Digest: digest}
	var result []byte
	err := s.db.read(ctx, func(q querier) error {
		return queryOne(ctx, q, []any{s.d.timeDest(&r.ScannedAt), s.d.timeDest(&r.DBUpdatedAt), &result},
			"SELECT scanned_at, db_updated_at, result FROM scans WHERE digest = ?", digest)
	})
	if errors.Is(err, errNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return ScanRecord{}, fmt.Errorf("scan of %s: %w", digest, err)
	}
	r.ScannedAt, r.DBUpdatedAt = r.ScannedAt.UTC(), r.DBUpdatedAt.UTC()
	r.Result = json.RawMessage(emptyAsNil(result))
	return r, nil
}

// PutCredential creates or replaces a credential by name. Token hashes are
// unique: a hash another credential holds is an error.
func (s *sqlStore) PutCredential(ctx context.Context, c Credential) error {
	if err := checkCredential(c); err != nil {
		return fmt.Errorf("put credential %s: %w", c.Name, err)
	}
	err := s.db.write(ctx, func(q querier) error {
		_, err := q.exec(ctx, `INSERT INTO credentials (name, role, cluster, token_hash, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET role = excluded.role, cluster = excluded.cluster,
			token_hash = excluded.token_hash, created_at = excluded.created_at`,
			c.Name, c.Role, c.Cluster, c.TokenHash, s.d.timeArg(normTime(c.CreatedAt)))
		return err
	})
	if err != nil {
		return fmt.Errorf("put credential %s: %w", c.Name, err)
	}
	return nil
}

// checkCredential says what makes a credential unusable.
func checkCredential(c Credential) error {
	switch {
	case c.Name == "":
		return errors.New("the credential has no name")
	case c.TokenHash == "":
		return errors.New("the credential has no token hash")
	case !slices.Contains([]string{RoleCluster, RoleAuditor, RoleAdmin}, c.Role):
		return fmt.Errorf("unknown role %q: use %s, %s or %s", c.Role, RoleCluster, RoleAuditor, RoleAdmin)
	case c.Role == RoleCluster && c.Cluster == "":
		return errors.New("a cluster credential must name its cluster")
	}
	return nil
}

// CredentialByTokenHash finds the credential whose token hashes to h.
func (s *sqlStore) CredentialByTokenHash(ctx context.Context, h string) (Credential, error) {
	c := Credential{TokenHash: h}
	err := s.db.read(ctx, func(q querier) error {
		return queryOne(ctx, q, []any{&c.Name, &c.Role, &c.Cluster, s.d.timeDest(&c.CreatedAt)},
			"SELECT name, role, cluster, created_at FROM credentials WHERE token_hash = ?", h)
	})
	if errors.Is(err, errNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		// Not the hash: it identifies a secret.
		return Credential{}, fmt.Errorf("look up credential by token: %w", err)
	}
	c.CreatedAt = c.CreatedAt.UTC()
	return c, nil
}

// DeleteCredential removes a credential by name (ErrNotFound if none).
func (s *sqlStore) DeleteCredential(ctx context.Context, name string) error {
	var n int64
	err := s.db.write(ctx, func(q querier) error {
		var err error
		n, err = q.exec(ctx, "DELETE FROM credentials WHERE name = ?", name)
		return err
	})
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete credential %s: %w", name, err)
	}
	return nil
}
