package connpool

import (
	"context"
	"errors"
	"strconv"
	"strings"
)

// The C API sends text parameters whose types the server infers and has no "describe": the
// binding learns a statement's parameter types with SQL instead, in three statements on the
// lease's connection (PREPARE, a look-up in pg_prepared_statements, DEALLOCATE). It does so
//   - for database/sql's Prepare, which thereby reports the server's error for invalid SQL at
//     Prepare time, as a user of database/sql expects, and knows the parameter count
//     (NumInput); and
//   - before sending a []byte whose meaning depends on its target type (see
//     encoder.appendBytes), so that it goes to bytea as bytes and to anything else as text.

// describeName is the prepared statement used to describe; the library's own statement cache
// uses names starting with "_connpool_", so the two never meet.
const describeName = "connpool_go_describe"

// Parameter types, with a domain replaced by its base type (a domain over bytea takes bytea's
// input), in parameter order; '{}' when there are none.
const describeTypesSQL = `SELECT coalesce((SELECT array_agg(CASE WHEN t.typtype = 'd' ` +
	`THEN t.typbasetype ELSE t.oid END ORDER BY u.n) FROM unnest(s.parameter_types::oid[]) ` +
	`WITH ORDINALITY AS u(typ, n) JOIN pg_type t ON t.oid = u.typ), '{}') ` +
	`FROM pg_prepared_statements s WHERE s.name = $1`

const (
	sqlstateDuplicatePrepared = "42P05"
)

// describe returns the type OIDs of sql's parameters (a non-nil slice), or the error the
// server reports for sql (a *PgError with its SQLSTATE, as executing it would give). Inside a
// transaction block, an error aborts the transaction, as it would when executing sql.
func (c *Conn) describe(ctx context.Context, sql string) ([]uint32, error) {
	// These statements are ordinary ones on this lease, never QueryRow's "release with the
	// final collect".
	wantRow, releaseAfter := c.wantRow, c.releaseAfter
	c.wantRow, c.releaseAfter = false, false
	defer func() { c.wantRow, c.releaseAfter = wantRow, releaseAfter }()

	prepare := "PREPARE " + describeName + " AS " + sql
	_, err := c.exec(ctx, prepare, nil, nil)
	var pg *PgError
	if errors.As(err, &pg) && pg.Code == sqlstateDuplicatePrepared {
		// Left behind by a describe whose DEALLOCATE failed (e.g. a broken transaction).
		if _, err = c.exec(ctx, "DEALLOCATE "+describeName, nil, nil); err == nil {
			_, err = c.exec(ctx, prepare, nil, nil)
		}
	}
	if err != nil {
		return nil, err
	}
	types, err := c.describedTypes(ctx)
	if _, dErr := c.exec(ctx, "DEALLOCATE "+describeName, nil, nil); err == nil {
		err = dErr
	}
	if err != nil {
		return nil, err
	}
	return types, nil
}

func (c *Conn) describedTypes(ctx context.Context) ([]uint32, error) {
	r, err := c.exec(ctx, describeTypesSQL, []any{describeName}, []uint32{})
	if err != nil {
		return nil, err
	}
	rows := newRows(r)
	defer rows.Close()
	var list string
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, &Error{Status: StatusInternal, Message: "describe: the prepared statement vanished"}
	}
	if err := rows.Scan(&list); err != nil {
		return nil, err
	}
	return parseOIDArray(list)
}

// parseOIDArray reads an oid[] in text form: "{17,25}".
func parseOIDArray(s string) ([]uint32, error) {
	inner := strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	types := []uint32{}
	if inner == "" {
		return types, nil
	}
	for _, f := range strings.Split(inner, ",") {
		v, err := strconv.ParseUint(f, 10, 32)
		if err != nil {
			return nil, &Error{Status: StatusInternal, Message: "describe: unexpected type list " + strconv.Quote(s)}
		}
		types = append(types, uint32(v))
	}
	return types, nil
}

// describable reports whether sql can be described with PREPARE: it is not one of the
// statements PREPARE refuses (utility statements: CREATE, SET, CALL, DO...) and not empty.
// Anything else, including text that is no SQL at all, is given to PREPARE, so that the
// server reports its syntax errors.
func describable(sql string) bool {
	word := firstWord(sql)
	if word == "" {
		return false
	}
	return !utilityStatements[strings.ToLower(word)]
}

// utilityStatements are the first keywords of PostgreSQL statements that PREPARE does not
// accept (it takes SELECT, INSERT, UPDATE, DELETE, MERGE, VALUES, TABLE and WITH).
var utilityStatements = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`abort alter analyze analyse begin call checkpoint close
		cluster comment commit copy create deallocate declare discard do drop end execute
		explain fetch grant import listen load lock move notify prepare reassign refresh
		reindex release reset revoke rollback savepoint security set show start truncate
		unlisten vacuum`) {
		m[w] = true
	}
	return m
}()

// firstWord returns the first keyword of sql after white space, comments and opening
// parentheses ("" if there is none).
func firstWord(sql string) string {
	i := 0
	for i < len(sql) {
		switch c := sql[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '(':
			i++
		case strings.HasPrefix(sql[i:], "--"):
			nl := strings.IndexByte(sql[i:], '\n')
			if nl < 0 {
				return ""
			}
			i += nl + 1
		case strings.HasPrefix(sql[i:], "/*"):
			depth := 0
			for i < len(sql) {
				if strings.HasPrefix(sql[i:], "/*") {
					depth++
					i += 2
				} else if strings.HasPrefix(sql[i:], "*/") {
					depth--
					i += 2
					if depth == 0 {
						break
					}
				} else {
					i++
				}
			}
		default:
			j := i
			for j < len(sql) && isWordByte(sql[j]) {
				j++
			}
			if j == i {
				return sql[i : i+1] // punctuation: not a keyword, but not nothing either
			}
			return sql[i:j]
		}
	}
	return ""
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}
