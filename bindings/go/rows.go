package connpool

import (
	"fmt"
	"runtime"
)

// Rows is the result of a query: iterate with Next, read with Scan, and Close when done
// (Next closes it after the last row; Close is idempotent). The data lives in C memory owned
// by the library until Close; a Rows that is garbage-collected unclosed is freed by a finalizer.
// Rows does not hold a lease: the connection may be released while its rows are still read.
type Rows struct {
	res      uintptr // connpool_result token; 0 once closed
	nrows    int64
	ncols    int
	affected int64
	row      int64 // current row, -1 before the first Next
	cells    []cell
	types    []uint32 // column type OIDs, fetched on first need
	names    []string
	err      error
}

func newRows(r execResult) *Rows {
	rows := &Rows{res: r.res, nrows: r.nrows, ncols: r.ncols, affected: r.affected, row: -1}
	runtime.SetFinalizer(rows, (*Rows).free)
	return rows
}

func (r *Rows) free() {
	if r.res != 0 {
		cResultFree(r.res)
		r.res = 0
	}
}

// Close frees the result. Scan fails after Close.
func (r *Rows) Close() {
	if r.res != 0 {
		r.free()
		r.cells = nil
		runtime.SetFinalizer(r, nil)
	}
}

// Next moves to the next row; false after the last one (the Rows are then closed) or on an
// error (see Err).
func (r *Rows) Next() bool {
	if r.res == 0 {
		return false
	}
	r.row++
	if r.row >= r.nrows {
		r.Close()
		return false
	}
	if r.cells == nil {
		r.cells = make([]cell, r.ncols)
	}
	ok := cRow(r.res, r.row, r.cells)
	runtime.KeepAlive(r)
	if !ok {
		r.err = &Error{Status: StatusInternal, Message: fmt.Sprintf("cannot read row %d of the result", r.row)}
		r.Close()
		return false
	}
	return true
}

// Err returns the error that ended the iteration early, if any. Query errors are returned by
// Query itself, because the result is complete before Query returns.
func (r *Rows) Err() error { return r.err }

// RowsAffected is the row count the server reported for the statement (-1 if none).
func (r *Rows) RowsAffected() int64 { return r.affected }

// Columns returns the column names.
func (r *Rows) Columns() []string {
	if r.names == nil && r.res != 0 {
		r.names = make([]string, r.ncols)
		for i := range r.names {
			r.names[i] = cColumnName(r.res, i)
		}
		runtime.KeepAlive(r)
	}
	return r.names
}

// ColumnTypeOIDs returns the PostgreSQL type OID of each column (e.g. 23 for int4).
func (r *Rows) ColumnTypeOIDs() []uint32 {
	r.loadTypes()
	return r.types
}

func (r *Rows) loadTypes() {
	if r.types == nil && r.res != 0 {
		r.types = make([]uint32, r.ncols)
		cColumnTypes(r.res, r.types)
		runtime.KeepAlive(r)
	}
}

// Scan copies the current row's values into dest, one per column. Supported destinations:
// *string, *[]byte, *int, *int16, *int32, *int64, *float32, *float64, *bool, *time.Time,
// *any, sql.Scanner (sql.NullString...), pointers to named types of those kinds, and a
// pointer to a pointer of any of them (**int64...) which receives nil for SQL NULL. A NULL
// scanned into a destination that cannot represent it is an error. nil skips a column.
func (r *Rows) Scan(dest ...any) error {
	if r.res == 0 || r.row < 0 || r.row >= r.nrows {
		return &Error{Status: StatusInvalidArgument, Message: "Scan called without a current row (call Next first; Rows are closed after the last row)"}
	}
	if len(dest) != r.ncols {
		return &Error{Status: StatusInvalidArgument,
			Message: fmt.Sprintf("Scan got %d destinations for %d columns", len(dest), r.ncols)}
	}
	r.loadTypes()
	for i, d := range dest {
		c := r.cells[i]
		if err := scanValue(d, c.bytes(), c.null(), r.types[i]); err != nil {
			return &scanError{col: i, name: cColumnName(r.res, i), err: err}
		}
	}
	runtime.KeepAlive(r) // the cells point into the result: keep it until copied
	return nil
}

// Values returns the current row decoded as Go values (see Row/Scan into *any).
func (r *Rows) Values() ([]any, error) {
	out := make([]any, r.ncols)
	dest := make([]any, r.ncols)
	for i := range out {
		dest[i] = &out[i]
	}
	return out, r.Scan(dest...)
}

type scanError struct {
	col  int
	name string
	err  error
}

func (e *scanError) Error() string {
	if e.name == "" {
		return fmt.Sprintf("connpool: scanning column %d: %v", e.col, e.err)
	}
	return fmt.Sprintf("connpool: scanning column %d (%q): %v", e.col, e.name, e.err)
}
func (e *scanError) Unwrap() error { return e.err }

// Row is the result of QueryRow: call Scan once.
type Row struct {
	err    error
	found  bool
	vals   [][]byte // the first row, copied out of C memory
	nulls  []bool
	types  []uint32
	inline rowStorage // backs vals/nulls/types of small rows: one allocation per Row
}

// rowStorage holds a row of up to 4 columns and 64 bytes of values.
type rowStorage struct {
	vals  [4][]byte
	nulls [4]bool
	types [4]uint32
	data  [64]byte
}

// rowFromResult copies the first row of r into Go memory and frees the result at once, so a
// Row never holds C memory (no finalizer needed, nothing to leak if Scan is never called).
func rowFromResult(r execResult) *Row {
	defer cResultFree(r.res)
	row := &Row{}
	if r.nrows == 0 {
		return row
	}
	row.found = true
	cells := make([]cell, r.ncols)
	if !cRow(r.res, 0, cells) {
		row.err = &Error{Status: StatusInternal, Message: "cannot read the first row of the result"}
		return row
	}
	row.types = make([]uint32, r.ncols)
	cColumnTypes(r.res, row.types)
	row.vals = make([][]byte, r.ncols)
	row.nulls = make([]bool, r.ncols)
	total := 0
	for _, c := range cells {
		total += int(c.len)
	}
	arena := make([]byte, 0, total)
	for i, c := range cells {
		if c.null() {
			row.nulls[i] = true
			continue
		}
		start := len(arena)
		arena = append(arena, c.bytes()...)
		row.vals[i] = arena[start:len(arena):len(arena)]
	}
	return row
}

// rowFromBuf makes a Row from the first row the final collect copied into b.
func rowFromBuf(b *rowBuf, ncols int) *Row {
	row := &Row{found: true}
	total := 0
	for _, n := range b.lens[:ncols] {
		if n > 0 {
			total += int(n)
		}
	}
	var arena []byte
	if ncols <= len(row.inline.vals) {
		row.vals, row.nulls, row.types = row.inline.vals[:ncols], row.inline.nulls[:ncols], row.inline.types[:ncols]
	} else {
		row.vals, row.nulls, row.types = make([][]byte, ncols), make([]bool, ncols), make([]uint32, ncols)
	}
	if total <= len(row.inline.data) {
		arena = row.inline.data[:total]
	} else {
		arena = make([]byte, total)
	}
	copy(row.types, b.types[:ncols])
	copy(arena, b.arena[:total])
	at := 0
	for i, n := range b.lens[:ncols] {
		if n < 0 {
			row.nulls[i] = true
			continue
		}
		row.vals[i] = arena[at : at+int(n) : at+int(n)]
		at += int(n)
	}
	return row
}

// Scan copies the row into dest (as Rows.Scan). ErrNoRows (sql.ErrNoRows) if the query
// returned no row; the query's own error if it failed.
func (r *Row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	if !r.found {
		return ErrNoRows
	}
	if len(dest) != len(r.vals) {
		return &Error{Status: StatusInvalidArgument,
			Message: fmt.Sprintf("Scan got %d destinations for %d columns", len(dest), len(r.vals))}
	}
	for i, d := range dest {
		if err := scanValue(d, r.vals[i], r.nulls[i], r.types[i]); err != nil {
			return &scanError{col: i, err: err}
		}
	}
	return nil
}
