package lint

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// moduleRoot is the repository root, seen from this package's directory.
const moduleRoot = "../.."

// TestEveryExportedNameHasGodoc parses every library file of the module
// (not tests, not generated code, not commands or examples, which export
// nothing to users) and lists each exported name without a doc comment:
// functions, methods of exported types, types, constants, variables, and
// the fields and methods of exported structs and interfaces. A name in a
// documented const or var group counts as documented, as in go doc.
func TestEveryExportedNameHasGodoc(t *testing.T) {
	var missing []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(moduleRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != moduleRoot && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		if f.Name.Name == "main" || ast.IsGenerated(f) {
			return nil
		}
		rel, _ := filepath.Rel(moduleRoot, path)
		for _, name := range undocumented(f) {
			missing = append(missing, rel+": "+name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Errorf("%d exported names have no doc comment:\n%s", len(missing), strings.Join(missing, "\n"))
	}
}

// skipDir reports whether a directory holds no library code: hidden
// directories, test data, and other modules' trees.
func skipDir(name string) bool {
	return strings.HasPrefix(name, ".") || name == "testdata" || name == "benchmarks"
}

// undocumented returns the exported names of f that have no doc comment.
func undocumented(f *ast.File) []string {
	var out []string
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() || (d.Recv != nil && !exportedReceiver(d.Recv)) {
				continue
			}
			if d.Doc == nil {
				out = append(out, funcName(d))
			}
		case *ast.GenDecl:
			groupDoc := d.Doc != nil
			for _, spec := range d.Specs {
				switch s := spec.(type) {
				case *ast.TypeSpec:
					if !s.Name.IsExported() {
						continue
					}
					if s.Doc == nil && d.Doc == nil {
						out = append(out, "type "+s.Name.Name)
					}
					out = append(out, undocumentedMembers(s)...)
				case *ast.ValueSpec:
					if s.Doc != nil || s.Comment != nil || groupDoc {
						continue
					}
					for _, n := range s.Names {
						if n.IsExported() {
							out = append(out, d.Tok.String()+" "+n.Name)
						}
					}
				}
			}
		}
	}
	return out
}

// undocumentedMembers returns the exported fields of an exported struct,
// or methods of an exported interface, that have no comment (a doc
// comment above or a line comment beside). An embedded type is documented
// where it is declared.
func undocumentedMembers(s *ast.TypeSpec) []string {
	var fields *ast.FieldList
	switch t := s.Type.(type) {
	case *ast.StructType:
		fields = t.Fields
	case *ast.InterfaceType:
		fields = t.Methods
	default:
		return nil
	}
	var out []string
	for _, f := range fields.List {
		if f.Doc != nil || f.Comment != nil || len(f.Names) == 0 {
			continue
		}
		for _, n := range f.Names {
			if n.IsExported() {
				out = append(out, s.Name.Name+"."+n.Name)
			}
		}
	}
	return out
}

// exportedReceiver reports whether a method's receiver type is exported.
func exportedReceiver(recv *ast.FieldList) bool {
	if len(recv.List) == 0 {
		return false
	}
	t := recv.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
		case *ast.IndexExpr:
			t = x.X
		case *ast.IndexListExpr:
			t = x.X
		case *ast.Ident:
			return x.IsExported()
		default:
			return false
		}
	}
}

// funcName names a function or method as go doc does.
func funcName(d *ast.FuncDecl) string {
	if d.Recv == nil {
		return "func " + d.Name.Name
	}
	t := d.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return "method " + id.Name + "." + d.Name.Name
	}
	return "method " + d.Name.Name
}
