package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// synctestTests returns the names of the top-level tests in dir's test
// files (both the package and its _test package) that run
// testing/synctest: those that call synctest.Test, or call a function of
// the same files that does, at any depth.
func synctestTests(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil || len(files) == 0 {
		return nil, err
	}
	fset := token.NewFileSet()
	calls := map[string][]string{} // function -> functions it calls by plain name
	uses := map[string]bool{}      // function -> calls synctest.Test itself
	var tests []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		file, err := parser.ParseFile(fset, f, src, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, decl := range file.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			name := fn.Name.Name
			if fn.Recv != nil {
				continue // methods: reached through their callers' names only
			}
			if strings.HasPrefix(name, "Test") && name != "TestMain" {
				tests = append(tests, name)
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				switch fun := call.Fun.(type) {
				case *ast.SelectorExpr:
					if x, ok := fun.X.(*ast.Ident); ok && x.Name == "synctest" && fun.Sel.Name == "Test" {
						uses[name] = true
					}
				case *ast.Ident:
					calls[name] = append(calls[name], fun.Name)
				}
				return true
			})
		}
	}
	var reaches func(fn string, seen map[string]bool) bool
	reaches = func(fn string, seen map[string]bool) bool {
		if uses[fn] {
			return true
		}
		if seen[fn] {
			return false
		}
		seen[fn] = true
		for _, c := range calls[fn] {
			if reaches(c, seen) {
				return true
			}
		}
		return false
	}
	var out []string
	for _, t := range tests {
		if reaches(t, map[string]bool{}) {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out, nil
}
