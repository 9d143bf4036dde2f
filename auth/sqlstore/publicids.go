package sqlstore

import (
	"context"
	"fmt"

	"gatehouse.dev/auth"
)

var _ auth.PublicIDLister = (*Store)(nil)

// ListPublicIDs calls fn with the public id of every key, revoked and
// expired ones included ([auth.PublicIDLister]): one query reading only the
// public_id column (of its unique index on PostgreSQL and SQLite).
func (s *Store) ListPublicIDs(ctx context.Context, fn func(publicID string)) error {
	rows, err := s.db.QueryContext(ctx, "SELECT public_id FROM gatehouse_keys")
	if err != nil {
		return fmt.Errorf("sqlstore: list public ids: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("sqlstore: list public ids: %w", err)
		}
		fn(id)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlstore: list public ids: %w", err)
	}
	return nil
}
