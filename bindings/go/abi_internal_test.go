package connpool

// The facts this package takes from the library (statuses, option kinds, statistics) are
// checked against what the loaded library reports through its introspection functions, so
// that a status, option or statistic added to the library without its Go counterpart fails
// here. The Go side is read from this package's own sources (go/ast), not from a list kept in
// the test.

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// parseFile parses one file of this package.
func parseFile(t *testing.T, name string) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// goStatuses returns the Status constants of errors.go (name -> value) and the sentinel errors
// (name -> the Status constant they are).
func goStatuses(t *testing.T) (consts map[string]int, sentinels map[string]string) {
	consts, sentinels = map[string]int{}, map[string]string{}
	for _, decl := range parseFile(t, "errors.go").Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, spec := range gd.Specs {
			vs, ok := spec.(*ast.ValueSpec)
			if !ok || vs.Type == nil || len(vs.Names) != 1 || len(vs.Values) != 1 {
				continue
			}
			typ, _ := vs.Type.(*ast.Ident)
			switch {
			case gd.Tok == token.CONST && typ != nil && typ.Name == "Status":
				lit, ok := vs.Values[0].(*ast.BasicLit)
				if !ok {
					t.Fatalf("errors.go: %s is not a literal", vs.Names[0].Name)
				}
				v, err := strconv.Atoi(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				consts[vs.Names[0].Name] = v
			case gd.Tok == token.VAR && typ != nil && typ.Name == "error":
				if id, ok := vs.Values[0].(*ast.Ident); ok && strings.HasPrefix(id.Name, "Status") {
					sentinels[vs.Names[0].Name] = id.Name
				}
			}
		}
	}
	return consts, sentinels
}

// goStatusName is the Go constant for a C status name: CONNPOOL_ERR_TOO_MANY_WAITERS ->
// StatusTooManyWaiters, CONNPOOL_OK -> StatusOK.
func goStatusName(cName string) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(cName, "CONNPOOL_"), "ERR_")
	if rest == "OK" {
		return "StatusOK"
	}
	var b strings.Builder
	b.WriteString("Status")
	for _, word := range strings.Split(rest, "_") {
		b.WriteString(word[:1] + strings.ToLower(word[1:]))
	}
	return b.String()
}

// Statuses with no exported sentinel error, and why.
var statusesWithoutSentinel = map[string]string{
	"StatusOK": "not a failure",
}

func TestEveryLibraryStatusHasItsGoConstantAndSentinel(t *testing.T) {
	consts, sentinels := goStatuses(t)
	if len(consts) == 0 || len(sentinels) == 0 {
		t.Fatalf("errors.go not parsed: %d constants, %d sentinels", len(consts), len(sentinels))
	}
	byValue := map[int]string{}
	for name, v := range consts {
		byValue[v] = name
	}
	hasSentinel := map[string]bool{}
	for _, c := range sentinels {
		hasSentinel[c] = true
	}
	n := 0
	for ; cStatusName(Status(n)) != unknownStatusName; n++ {
		s := Status(n)
		cName := cStatusName(s)
		want := goStatusName(cName)
		if got, ok := byValue[n]; !ok || got != want {
			t.Errorf("the library reports %s = %d: errors.go needs `%s Status = %d` (has %q)", cName, n, want, n, got)
			continue
		}
		if s.String() != cName || s.Description() != cStatusDescription(s) || s.Description() == "" {
			t.Errorf("%d: String %q, Description %q; the library says %q, %q", n, s.String(), s.Description(), cName, cStatusDescription(s))
		}
		if _, internal := statusesWithoutSentinel[want]; !internal && !hasSentinel[want] {
			t.Errorf("%s has no sentinel error (var ErrXxx error = %s) in errors.go", cName, want)
		}
		var e *Error
		if err := errorForStatus(s); n != 0 && (!errors.As(err, &e) || !errors.Is(err, s) || e.Message != s.Description()) {
			t.Errorf("%s: a bare status gives %#v", cName, err)
		}
	}
	if n != len(statusNames) {
		t.Errorf("statusNames has %d entries, the library %d", len(statusNames), n)
	}
	for name, v := range consts {
		if v >= n {
			t.Errorf("errors.go has %s = %d, a status the library does not report", name, v)
		}
	}
	unknown := Status(n)
	if unknown.String() != unknownStatusName || unknown.Description() == "" {
		t.Errorf("an unknown status: %q, %q", unknown.String(), unknown.Description())
	}
}

func TestStatusNameMapping(t *testing.T) {
	for c, g := range map[string]string{
		"CONNPOOL_OK":                   "StatusOK",
		"CONNPOOL_ERR_TOO_MANY_WAITERS": "StatusTooManyWaiters",
		"CONNPOOL_ERR_IN_PROGRESS":      "StatusInProgress",
	} {
		if got := goStatusName(c); got != g {
			t.Errorf("%s -> %s, want %s", c, got, g)
		}
	}
}

// typedDefault is an option's default as the Go value a caller would pass.
func typedDefault(t *testing.T, o optionInfo) any {
	t.Helper()
	switch o.kind {
	case optionInteger, optionDurationMs:
		n, err := strconv.ParseInt(o.defaultValue, 10, 64)
		if err != nil {
			t.Fatalf("%s: default %q: %v", o.key, o.defaultValue, err)
		}
		if o.kind == optionDurationMs {
			return time.Duration(n) * time.Millisecond
		}
		return n
	case optionBoolean:
		switch strings.ToLower(o.defaultValue) {
		case "on", "true", "yes", "1":
			return true
		}
		return false
	}
	return o.defaultValue
}

func TestOptionValuesAreConvertedByTheLibraryKind(t *testing.T) {
	if optionsErr != nil {
		t.Fatal(optionsErr)
	}
	if len(options) != cOptionCount() || options["acquire_timeout"].kind != optionDurationMs {
		t.Fatalf("options not read from the library: %v", options)
	}
	// a value of each Go type, and the kind it suits
	suits := map[any]optionKind{time.Second: optionDurationMs, true: optionBoolean, 7: optionInteger, int64(7): optionInteger}
	for key, o := range options {
		if _, ok := kindNames[o.kind]; !ok {
			t.Errorf("%s: unknown kind %d", key, o.kind)
		}
		if got := (Option{key, typedDefault(t, o)}).Value(); !strings.EqualFold(got, o.defaultValue) {
			t.Errorf("%s: the typed default converts to %q, the library's default is %q", key, got, o.defaultValue)
		}
		for v, kind := range suits {
			text, err := Option{key, v}.text()
			if (o.kind == kind) != (err == nil) {
				t.Errorf("%s (%s): a %T value gives %q, %v", key, kindNames[o.kind], v, text, err)
			}
			if err != nil && (!errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), `"`+key+`"`)) {
				t.Errorf("%s: %v does not name the option", key, err)
			}
		}
	}
	if got := WithMaxLifetime(1500 * time.Microsecond).Value(); got != "2" {
		t.Errorf("1.5 ms -> %q, want 2 (rounded up)", got)
	}
	if got := WithOptionValue("no_such_option", time.Second).Value(); got != "1000" {
		t.Errorf("an unknown key converts by type: %q", got)
	}
}

// The With* helpers of options.go: each names a library option of the kind its argument's Go
// type implies, and the default its comment states is the library's (read from options.go, so
// a new helper is checked too).
func TestOptionHelpersMatchTheLibraryOptions(t *testing.T) {
	kindOf := map[string][]optionKind{
		"time.Duration": {optionDurationMs},
		"int":           {optionInteger},
		"bool":          {optionBoolean},
		"string":        {optionString, optionChoice},
	}
	seen, documented := 0, 0
	for _, decl := range parseFile(t, "options.go").Decls {
		fd, ok := decl.(*ast.FuncDecl)
		if !ok || fd.Recv != nil || !strings.HasPrefix(fd.Name.Name, "With") ||
			fd.Name.Name == "WithOption" || fd.Name.Name == "WithOptionValue" {
			continue
		}
		params := fd.Type.Params.List
		if len(params) != 1 || len(params[0].Names) != 1 {
			t.Errorf("%s: expected one parameter", fd.Name.Name)
			continue
		}
		typ := exprString(params[0].Type)
		var key string
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			if cl, ok := n.(*ast.CompositeLit); ok && len(cl.Elts) == 2 {
				if lit, ok := cl.Elts[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					key, _ = strconv.Unquote(lit.Value)
				}
			}
			return true
		})
		o, known := options[key]
		if !known {
			t.Errorf("%s sets %q, which the library does not know", fd.Name.Name, key)
			continue
		}
		ok = false
		for _, k := range kindOf[typ] {
			ok = ok || k == o.kind
		}
		if !ok {
			t.Errorf("%s takes a %s, but %q is %s option", fd.Name.Name, typ, key, kindNames[o.kind])
		}
		if doc, found := documentedDefault(fd.Doc.Text()); found {
			documented++
			if got, err := defaultAsLibraryText(o, doc); err != nil || got != strings.ToLower(o.defaultValue) {
				t.Errorf("%s's comment says (default %s), the library's default for %q is %q (%v)",
					fd.Name.Name, doc, key, o.defaultValue, err)
			}
		}
		seen++
	}
	if seen < 15 || documented < 15 {
		t.Errorf("only %d With* helpers found in options.go, %d with a checkable default", seen, documented)
	}
}

// documentedDefault finds "(default X" or "; default X" in a helper's comment; found is false
// when the comment states none that can be checked (e.g. "default: $CONNPOOL_LOG_LEVEL").
func documentedDefault(doc string) (string, bool) {
	m := regexp.MustCompile(`default:?\s+("[^"]*"|[^\s;)]+)`).FindStringSubmatch(doc)
	if m == nil || strings.HasPrefix(m[1], "$") {
		return "", false
	}
	return m[1], true
}

// defaultAsLibraryText turns a documented default ("30s", "on", "none", `"pool"`) into the
// library's text for option o, lower-cased.
func defaultAsLibraryText(o optionInfo, doc string) (string, error) {
	switch o.kind {
	case optionDurationMs:
		d, err := time.ParseDuration(doc)
		if doc == "0" {
			d, err = 0, nil
		}
		return durationMs(d), err
	case optionString, optionChoice:
		if doc == "none" {
			return "", nil
		}
		if s, err := strconv.Unquote(doc); err == nil {
			return s, nil
		}
	}
	return strings.ToLower(doc), nil
}

func exprString(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return exprString(x.X) + "." + x.Sel.Name
	}
	return "?"
}

// libraryAccepts says whether connpool_options_set takes value for key.
func libraryAccepts(t *testing.T, key, value string) bool {
	o, err := cOptionsNew()
	if err != nil {
		t.Fatal(err)
	}
	defer cOptionsFree(o)
	return cOptionsSet(o, key, value) == nil
}

// statValue is the field of s tagged `stat:"name"` as the library's int64.
func statValue(s Stats, name string) (int64, bool) {
	v := reflect.ValueOf(s)
	for i := 0; i < v.NumField(); i++ {
		if v.Type().Field(i).Tag.Get("stat") != name {
			continue
		}
		if d, ok := v.Field(i).Interface().(time.Duration); ok {
			return d.Microseconds(), true
		}
		return v.Field(i).Int(), true
	}
	return 0, false
}

func TestEveryOptionCanBeSetWithItsDefault(t *testing.T) {
	ci := testConninfo(t)
	for key, o := range options {
		if !libraryAccepts(t, key, o.defaultValue) {
			t.Errorf("%s: the library rejects its own default %q", key, o.defaultValue)
			continue
		}
		for _, opt := range []Option{WithOption(key, o.defaultValue), WithOptionValue(key, typedDefault(t, o))} {
			p, err := Open(ci, opt)
			if err != nil {
				t.Errorf("%s = %#v: %v", key, opt.value, err)
				continue
			}
			s, err := p.Stat()
			p.Close()
			if err != nil {
				t.Fatal(err)
			}
			if v, isStat := statValue(s, key); isStat && o.kind == optionInteger && strconv.FormatInt(v, 10) != o.defaultValue {
				t.Errorf("%s: the stat of the same name is %d, the default %s", key, v, o.defaultValue)
			}
		}
	}
}

func TestEveryLibraryStatHasAStatsField(t *testing.T) {
	tags := map[string]reflect.StructField{}
	st := reflect.TypeOf(Stats{})
	for i := 0; i < st.NumField(); i++ {
		f := st.Field(i)
		tag := f.Tag.Get("stat")
		if tag == "" {
			t.Errorf("Stats.%s has no `stat` tag", f.Name)
			continue
		}
		if _, dup := tags[tag]; dup {
			t.Errorf("two Stats fields are tagged %q", tag)
		}
		tags[tag] = f
	}
	n := cStatsFieldCount()
	described := map[string]bool{}
	for i := 0; i < n; i++ {
		d, err := cStatsFieldDescribe(i)
		if err != nil {
			t.Fatal(err)
		}
		described[d.name] = true
		if d.offset != uint32(8+8*i) || (d.kind != statGauge && d.kind != statCounter) || d.description == "" {
			t.Errorf("field %d: %+v", i, d)
		}
		f, ok := tags[d.name]
		if !ok {
			t.Errorf("the library reports the statistic %q (%s): Stats has no field tagged `stat:%q`", d.name, d.description, d.name)
			continue
		}
		want := reflect.TypeOf(int64(0))
		if strings.Contains(d.name, "_us_") {
			want = reflect.TypeOf(time.Duration(0))
		}
		if f.Type != want {
			t.Errorf("Stats.%s is a %v, want %v for %q", f.Name, f.Type, want, d.name)
		}
	}
	for tag, f := range tags {
		if !described[tag] {
			t.Errorf("Stats.%s is tagged %q, a statistic the library does not report", f.Name, tag)
		}
	}
	if _, err := cStatsFieldDescribe(n); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("describe(%d): %v", n, err)
	}
}
