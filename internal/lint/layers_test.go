package lint

import (
	"bufio"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// modulePath is this module's import path.
const modulePath = "github.com/org/macula"

// TestLayersMatchTheArchitecture reads the layer table of
// docs/ARCHITECTURE.md (between the layers:begin and layers:end markers)
// and checks it against the code: every package of the module has a row,
// and a library package's imports of the module (tests aside) are exactly
// the ones its row lists, so the table can neither allow an upward import
// nor go stale. A row ending in "/*" covers a directory of programs,
// which may import less than it lists.
func TestLayersMatchTheArchitecture(t *testing.T) {
	rules, err := readLayerTable(filepath.Join(moduleRoot, "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := moduleImports(moduleRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range slices.Sorted(maps.Keys(pkgs)) {
		got := pkgs[pkg]
		want, glob, ok := rules.lookup(pkg)
		if !ok {
			t.Errorf("%s has no row in the layer table of docs/ARCHITECTURE.md", pkg)
			continue
		}
		for _, imp := range got {
			if !slices.Contains(want, imp) {
				t.Errorf("%s imports %s, which its row in docs/ARCHITECTURE.md does not allow", pkg, imp)
			}
		}
		if glob {
			continue
		}
		for _, imp := range want {
			if !slices.Contains(got, imp) {
				t.Errorf("docs/ARCHITECTURE.md says %s imports %s, but it does not", pkg, imp)
			}
		}
	}
}

// layerRules maps a package (relative to the module, "macula" for the
// root, or a "dir/*" glob) to the module packages it may import.
type layerRules map[string][]string

// lookup returns the rule for pkg: its own row, else the longest glob
// row covering it.
func (r layerRules) lookup(pkg string) (imports []string, glob, ok bool) {
	if imps, ok := r[pkg]; ok {
		return imps, false, true
	}
	best := ""
	for k := range r {
		dir, isGlob := strings.CutSuffix(k, "/*")
		if isGlob && strings.HasPrefix(pkg, dir+"/") && len(k) > len(best) {
			best = k
		}
	}
	if best == "" {
		return nil, false, false
	}
	return r[best], true, true
}

// readLayerTable parses the table rows "| `pkg` ... | `a`, `b` |".
func readLayerTable(path string) (layerRules, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rules := layerRules{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "<!-- layers:begin -->":
			in = true
			continue
		case line == "<!-- layers:end -->":
			if len(rules) == 0 {
				return nil, fmt.Errorf("%s: empty layer table", path)
			}
			return rules, nil
		}
		if !in || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 2 {
			return nil, fmt.Errorf("%s: bad layer row %q", path, line)
		}
		names := backquoted(cells[0])
		if len(names) != 1 {
			return nil, fmt.Errorf("%s: bad package cell in %q", path, line)
		}
		rules[names[0]] = backquoted(cells[1])
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%s: no layers:begin/layers:end table", path)
}

// backquoted returns the `quoted` words of s.
func backquoted(s string) []string {
	var out []string
	parts := strings.Split(s, "`")
	for i := 1; i < len(parts); i += 2 {
		out = append(out, parts[i])
	}
	return out
}

// moduleImports returns, per package directory of the module ("macula"
// for the root), the sorted module packages its non-test files import.
func moduleImports(root string) (map[string][]string, error) {
	out := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(dir)
		if pkg == "." {
			pkg = "macula"
		}
		imps := out[pkg]
		if imps == nil {
			imps = []string{}
		}
		for _, spec := range f.Imports {
			p, _ := strconv.Unquote(spec.Path.Value)
			var rel string
			switch {
			case p == modulePath:
				rel = "macula"
			case strings.HasPrefix(p, modulePath+"/"):
				rel = strings.TrimPrefix(p, modulePath+"/")
			default:
				continue
			}
			if !slices.Contains(imps, rel) {
				imps = append(imps, rel)
			}
		}
		slices.Sort(imps)
		out[pkg] = imps
		return nil
	})
	return out, err
}
