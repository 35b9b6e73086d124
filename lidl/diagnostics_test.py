"""Negative tests: every checker/parser diagnostic pinned exactly (message, position, caret).

Each case writes its files into a temporary directory, checks the first one and compares the full
rendered output.  Nothing is regenerated automatically: a changed message is a reviewed change.
To add a case, add its files with an empty expectation and print what the checker says with
    PYTHONPATH=. python3 lidl/diagnostics_test.py --show CASE_NAME
"""
from __future__ import annotations

import os

import pytest

from lidl.checker import check_files
from lidl.diagnostics import LidlError

H = "namespace t;\n"

# name: ({path: text} (the first file is checked), expected diagnostics)
CASES = {
    'syntax_missing_colon': (
        {'t.lidl': H + 'struct A { x u8; }\n'},
        "t.lidl:2:14: error: unexpected name 'u8', expected ':'\n"
        'struct A { x u8; }\n'
        '             ^\n',
    ),
    'syntax_missing_semicolon': (
        {'t.lidl': H + 'struct A { x: u8 }\n'},
        "t.lidl:2:18: error: unexpected '}', expected ';'\n"
        'struct A { x: u8 }\n'
        '                 ^\n',
    ),
    'syntax_unexpected_char': (
        {'t.lidl': H + 'struct A { x: u8; $ }\n'},
        "t.lidl:2:19: error: unexpected character '$'\n"
        'struct A { x: u8; $ }\n'
        '                  ^\n',
    ),
    'syntax_unterminated_block_comment': (
        {'t.lidl': H + '/* never closed\nstruct A { x: u8; }\n'},
        't.lidl:2:1: error: unterminated block comment\n'
        '/* never closed\n'
        '^\n',
    ),
    'syntax_unexpected_eof': (
        {'t.lidl': H + 'struct A {\n  x: u8;\n'},
        "t.lidl:3:9: error: unexpected end of file, expected '}' or a name\n"
        '  x: u8;\n'
        '        ^\n',
    ),
    'syntax_unterminated_string': (
        {'t.lidl': H + 'import "a.lidl;\n'},
        't.lidl:2:8: error: unterminated string literal\n'
        'import "a.lidl;\n'
        '       ^\n',
    ),
    'syntax_missing_arrow': (
        {'t.lidl': H + 'service S { f(x: u8) u8; }\n'},
        "t.lidl:2:22: error: unexpected name 'u8', expected '->'\n"
        'service S { f(x: u8) u8; }\n'
        '                     ^\n',
    ),
    'syntax_enum_missing_comma': (
        {'t.lidl': H + 'enum E { a = 1 b = 2 }\n'},
        "t.lidl:2:16: error: unexpected name 'b', expected ',' or '}'\n"
        'enum E { a = 1 b = 2 }\n'
        '               ^\n',
    ),
    'syntax_nested_block_comment_not_supported': (
        {'t.lidl': H + '/* outer /* inner */ still outer */\nstruct A { x: u8; }\n'},
        "t.lidl:2:22: error: unexpected name 'still' after a block comment that contains '/*' (block comments do not nest)\n"
        '/* outer /* inner */ still outer */\n'
        '                     ^\n',
    ),
    'missing_namespace': (
        {'t.lidl': 'struct A { x: u8; }\n'},
        "t.lidl:1:1: error: missing namespace declaration (e.g. 'namespace my_app;')\n"
        'struct A { x: u8; }\n'
        '^\n',
    ),
    'second_namespace': (
        {'t.lidl': H + 'namespace u;\nstruct A { x: u8; }\n'},
        't.lidl:2:11: error: a file has exactly one namespace declaration\n'
        'namespace u;\n'
        '          ^\n'
        't.lidl:1:11: note: first declared here\n'
        'namespace t;\n'
        '          ^\n',
    ),
    'namespace_not_first': (
        {'t.lidl': 'struct A { x: u8; }\nnamespace t;\n'},
        't.lidl:2:11: error: the namespace declaration must come first in the file\n'
        'namespace t;\n'
        '          ^\n',
    ),
    'import_not_found': (
        {'t.lidl': H + 'import "nope.lidl";\n'},
        't.lidl:2:8: error: cannot find imported file "nope.lidl" (looked in \'nope.lidl\')\n'
        'import "nope.lidl";\n'
        '       ^\n',
    ),
    'import_cycle': (
        {'t.lidl': H + 'import "a.lidl";\n', 'a.lidl': 'namespace a;\nimport "t.lidl";\n'},
        't.lidl:2:8: error: import cycle: a.lidl -> t.lidl -> a.lidl\n'
        'import "a.lidl";\n'
        '       ^\n',
    ),
    'import_self': (
        {'t.lidl': H + 'import "t.lidl";\n'},
        't.lidl:2:8: error: import cycle: t.lidl -> t.lidl\n'
        'import "t.lidl";\n'
        '       ^\n',
    ),
    'empty_import': (
        {'t.lidl': H + 'import "";\n'},
        't.lidl:2:8: error: empty import path\n'
        'import "";\n'
        '       ^\n',
    ),
    'duplicate_type': (
        {'t.lidl': H + 'struct A { x: u8; }\nenum A { a }\n'},
        "t.lidl:3:6: error: duplicate definition of 't.A'\n"
        'enum A { a }\n'
        '     ^\n'
        't.lidl:2:8: note: previous definition is here\n'
        'struct A { x: u8; }\n'
        '       ^\n',
    ),
    'duplicate_type_across_files': (
        {'t.lidl': H + 'import "a.lidl";\nstruct A { x: u8; }\n', 'a.lidl': H + 'struct A { y: u8; }\n'},
        "a.lidl:2:8: error: duplicate definition of 't.A'\n"
        'struct A { y: u8; }\n'
        '       ^\n'
        't.lidl:3:8: note: previous definition is here\n'
        'struct A { x: u8; }\n'
        '       ^\n',
    ),
    'duplicate_field': (
        {'t.lidl': H + 'struct A {\n  x: u8;\n  x: u16;\n}\n'},
        "t.lidl:4:3: error: duplicate field 'x'\n"
        '  x: u16;\n'
        '  ^\n'
        't.lidl:3:3: note: previous declaration is here\n'
        '  x: u8;\n'
        '  ^\n',
    ),
    'duplicate_enum_value_name': (
        {'t.lidl': H + 'enum E { a, b, a }\n'},
        "t.lidl:2:16: error: duplicate enum value 'a'\n"
        'enum E { a, b, a }\n'
        '               ^\n'
        't.lidl:2:10: note: previous declaration is here\n'
        'enum E { a, b, a }\n'
        '         ^\n',
    ),
    'duplicate_enum_value_number': (
        {'t.lidl': H + 'enum E { a = 1, b = 1 }\n'},
        "t.lidl:2:21: error: enum value 1 is already used by 'a'\n"
        'enum E { a = 1, b = 1 }\n'
        '                    ^\n',
    ),
    'implicit_enum_value_collides': (
        {'t.lidl': H + 'enum E { a = 1, b = 0, c }\n'},
        "t.lidl:2:24: error: enum value 1 is already used by 'a'\n"
        'enum E { a = 1, b = 0, c }\n'
        '                       ^\n',
    ),
    'enum_value_too_big': (
        {'t.lidl': H + 'enum E : u8 { a = 256 }\n'},
        't.lidl:2:19: error: enum value 256 does not fit in u8 (0..255)\n'
        'enum E : u8 { a = 256 }\n'
        '                  ^\n',
    ),
    'enum_value_negative_unsigned': (
        {'t.lidl': H + 'enum E : u16 { a = -1 }\n'},
        't.lidl:2:20: error: enum value -1 does not fit in u16 (0..65535)\n'
        'enum E : u16 { a = -1 }\n'
        '                   ^\n',
    ),
    'enum_implicit_overflow': (
        {'t.lidl': H + 'enum E : i8 { a = 127, b }\n'},
        't.lidl:2:24: error: enum value 128 does not fit in i8 (-128..127)\n'
        'enum E : i8 { a = 127, b }\n'
        '                       ^\n',
    ),
    'enum_float_underlying': (
        {'t.lidl': H + 'enum E : f32 { a }\n'},
        "t.lidl:2:10: error: enum underlying type must be an integer type (u8..u64, i8..i64), got 'f32'\n"
        'enum E : f32 { a }\n'
        '         ^\n',
    ),
    'enum_empty': (
        {'t.lidl': H + 'enum E { }\n'},
        "t.lidl:2:6: error: enum 'E' has no values\n"
        'enum E { }\n'
        '     ^\n',
    ),
    'union_empty': (
        {'t.lidl': H + 'union U { }\n'},
        "t.lidl:2:7: error: union 'U' has no variants\n"
        'union U { }\n'
        '      ^\n',
    ),
    'union_duplicate_variant': (
        {'t.lidl': H + 'union U { a: u8; a: u16; }\n'},
        "t.lidl:2:18: error: duplicate union variant 'a'\n"
        'union U { a: u8; a: u16; }\n'
        '                 ^\n'
        't.lidl:2:11: note: previous declaration is here\n'
        'union U { a: u8; a: u16; }\n'
        '          ^\n',
    ),
    'union_view_variant': (
        {'t.lidl': H + 'union U { a: string_view; }\n'},
        "t.lidl:2:14: error: borrowed view 'string_view' is only allowed as a procedure parameter, not in a data type\n"
        'union U { a: string_view; }\n'
        '             ^\n',
    ),
    'unknown_type': (
        {'t.lidl': H + 'struct A { x: Fram; }\n'},
        "t.lidl:2:15: error: unknown type 'Fram'\n"
        'struct A { x: Fram; }\n'
        '              ^\n',
    ),
    'unknown_type_not_imported': (
        {'t.lidl': H + 'import "a.lidl";\nstruct A { x: c.C; }\n', 'a.lidl': 'namespace a;\nimport "c.lidl";\nstruct B { c: c.C; }\n', 'c.lidl': 'namespace c;\nstruct C { x: u8; }\n'},
        "t.lidl:3:15: error: unknown type 'c.C': 'c.C' is declared in 'c.lidl', which this file does not import\n"
        'struct A { x: c.C; }\n'
        '              ^\n',
    ),
    'unknown_qualified_type': (
        {'t.lidl': H + 'struct A { x: other.B; }\n'},
        "t.lidl:2:15: error: unknown type 'other.B'\n"
        'struct A { x: other.B; }\n'
        '              ^\n',
    ),
    'service_as_type': (
        {'t.lidl': H + 'service S { f() -> void; }\nstruct A { s: S; }\n'},
        "t.lidl:3:15: error: 't.S' is a service, not a data type\n"
        'struct A { s: S; }\n'
        '              ^\n',
    ),
    'unknown_base_service': (
        {'t.lidl': H + 'service S extends Base { }\n'},
        "t.lidl:2:19: error: unknown service 'Base'\n"
        'service S extends Base { }\n'
        '                  ^\n',
    ),
    'extends_struct': (
        {'t.lidl': H + 'struct A { x: u8; }\nservice S extends A { }\n'},
        "t.lidl:3:19: error: 't.A' is a struct, not a service\n"
        'service S extends A { }\n'
        '                  ^\n',
    ),
    'extends_twice': (
        {'t.lidl': H + 'service B { }\nservice S extends B, B { }\n'},
        "t.lidl:3:22: error: service 't.B' is listed twice\n"
        'service S extends B, B { }\n'
        '                     ^\n',
    ),
    'inheritance_cycle': (
        {'t.lidl': H + 'service A extends B { }\nservice B extends A { }\n'},
        "t.lidl:2:19: error: service inheritance cycle involving 't.A'\n"
        'service A extends B { }\n'
        '                  ^\n',
    ),
    'duplicate_procedure': (
        {'t.lidl': H + 'service S {\n  f() -> void;\n  f(x: u8) -> void;\n}\n'},
        "t.lidl:4:3: error: duplicate procedure 'f'\n"
        '  f(x: u8) -> void;\n'
        '  ^\n'
        't.lidl:3:3: note: previous declaration is here\n'
        '  f() -> void;\n'
        '  ^\n',
    ),
    'procedure_redefines_inherited': (
        {'t.lidl': H + 'service B { f() -> void; }\nservice S extends B { f() -> u8; }\n'},
        "t.lidl:3:23: error: procedure 'f' is already defined in base service 't.B'\n"
        'service S extends B { f() -> u8; }\n'
        '                      ^\n',
    ),
    'procedure_inherited_twice': (
        {'t.lidl': H + 'service A { f() -> void; }\nservice B { f() -> void; }\nservice S extends A, B { }\n'},
        "t.lidl:4:22: error: procedure 'f' is inherited from both 't.A' and 't.B'\n"
        'service S extends A, B { }\n'
        '                     ^\n',
    ),
    'duplicate_parameter': (
        {'t.lidl': H + 'service S { f(x: u8, x: u16) -> void; }\n'},
        "t.lidl:2:22: error: duplicate parameter 'x'\n"
        'service S { f(x: u8, x: u16) -> void; }\n'
        '                     ^\n',
    ),
    'vector_no_args': (
        {'t.lidl': H + 'struct A { x: vector; }\n'},
        "t.lidl:2:15: error: 'vector' takes 1 type argument, got 0 (write 'vector<T>')\n"
        'struct A { x: vector; }\n'
        '              ^\n',
    ),
    'vector_two_args': (
        {'t.lidl': H + 'struct A { x: vector<u8, u16>; }\n'},
        "t.lidl:2:15: error: 'vector' takes 1 type argument, got 2 (write 'vector<T>')\n"
        'struct A { x: vector<u8, u16>; }\n'
        '              ^\n',
    ),
    'vector_int_arg': (
        {'t.lidl': H + 'struct A { x: vector<3>; }\n'},
        "t.lidl:2:22: error: expected a type as argument of 'vector', got integer 3\n"
        'struct A { x: vector<3>; }\n'
        '                     ^\n',
    ),
    'optional_no_args': (
        {'t.lidl': H + 'struct A { x: optional; }\n'},
        "t.lidl:2:15: error: 'optional' takes 1 type argument, got 0 (write 'optional<T>')\n"
        'struct A { x: optional; }\n'
        '              ^\n',
    ),
    'array_missing_length': (
        {'t.lidl': H + 'struct A { x: array<u8>; }\n'},
        "t.lidl:2:15: error: 'array' takes 2 arguments (element type and length), got 1\n"
        'struct A { x: array<u8>; }\n'
        '              ^\n',
    ),
    'array_type_length': (
        {'t.lidl': H + 'struct A { x: array<u8, u8>; }\n'},
        "t.lidl:2:25: error: array length must be an integer, got type 'u8'\n"
        'struct A { x: array<u8, u8>; }\n'
        '                        ^\n',
    ),
    'array_int_element': (
        {'t.lidl': H + 'struct A { x: array<4, 4>; }\n'},
        "t.lidl:2:21: error: expected a type as the element of 'array', got integer 4\n"
        'struct A { x: array<4, 4>; }\n'
        '                    ^\n',
    ),
    'array_zero_length': (
        {'t.lidl': H + 'struct A { x: array<u8, 0>; }\n'},
        't.lidl:2:25: error: array length must be between 1 and 1048576, got 0\n'
        'struct A { x: array<u8, 0>; }\n'
        '                        ^\n',
    ),
    'array_huge_length': (
        {'t.lidl': H + 'struct A { x: array<u8, 0x7fffffff>; }\n'},
        't.lidl:2:25: error: array length must be between 1 and 1048576, got 2147483647\n'
        'struct A { x: array<u8, 0x7fffffff>; }\n'
        '                        ^\n',
    ),
    'scalar_with_args': (
        {'t.lidl': H + 'struct A { x: u8<u8>; }\n'},
        "t.lidl:2:15: error: 'u8' takes no type arguments\n"
        'struct A { x: u8<u8>; }\n'
        '              ^\n',
    ),
    'struct_not_generic': (
        {'t.lidl': H + 'struct B { x: u8; }\nstruct A { b: B<u8>; }\n'},
        "t.lidl:3:15: error: 't.B' is not generic and takes no arguments\n"
        'struct A { b: B<u8>; }\n'
        '              ^\n',
    ),
    'generic_without_args': (
        {'t.lidl': H + 'struct<T> Box { v: T; }\nstruct A { b: Box; }\n'},
        "t.lidl:3:15: error: 't.Box' takes 1 argument(s) <T>, got 0\n"
        'struct A { b: Box; }\n'
        '              ^\n',
    ),
    'generic_wrong_arity': (
        {'t.lidl': H + 'struct<T> Box { v: T; }\nstruct A { b: Box<u8, u16>; }\n'},
        "t.lidl:3:15: error: 't.Box' takes 1 argument(s) <T>, got 2\n"
        'struct A { b: Box<u8, u16>; }\n'
        '              ^\n',
    ),
    'generic_int_for_type': (
        {'t.lidl': H + 'struct<T> Box { v: T; }\nstruct A { b: Box<7>; }\n'},
        "t.lidl:3:19: error: parameter 'T' of 't.Box' is a type, got integer 7\n"
        'struct A { b: Box<7>; }\n'
        '                  ^\n',
    ),
    'generic_type_for_int': (
        {'t.lidl': H + 'struct<T, N: u8> Ring { v: array<T, N>; }\nstruct A { r: Ring<u8, u8>; }\n'},
        "t.lidl:3:24: error: parameter 'N' of 't.Ring' must be an integer, got type 'u8'\n"
        'struct A { r: Ring<u8, u8>; }\n'
        '                       ^\n',
    ),
    'generic_int_out_of_range': (
        {'t.lidl': H + 'struct<T, N: u8> Ring { v: array<T, N>; }\nstruct A { r: Ring<u8, 1000>; }\n'},
        "t.lidl:3:24: error: parameter 'N' of 't.Ring': 1000 does not fit in u8 (0..255)\n"
        'struct A { r: Ring<u8, 1000>; }\n'
        '                       ^\n',
    ),
    'type_param_with_args': (
        {'t.lidl': H + 'struct<T> Box { v: T<u8>; }\n'},
        "t.lidl:2:20: error: type parameter 'T' takes no arguments\n"
        'struct<T> Box { v: T<u8>; }\n'
        '                   ^\n',
    ),
    'int_param_as_type': (
        {'t.lidl': H + 'struct<N: u32> Box { v: N; }\n'},
        "t.lidl:2:25: error: 'N' is an integer parameter, not a type\n"
        'struct<N: u32> Box { v: N; }\n'
        '                        ^\n',
    ),
    'duplicate_type_param': (
        {'t.lidl': H + 'struct<T, T> Pair { a: T; }\n'},
        "t.lidl:2:11: error: duplicate type parameter 'T'\n"
        'struct<T, T> Pair { a: T; }\n'
        '          ^\n',
    ),
    'int_param_bad_kind': (
        {'t.lidl': H + 'struct<N: f32> Box { v: array<u8, N>; }\n'},
        "t.lidl:2:11: error: integer parameter 'N' must have an integer type (u8..u64, i8..i64), got 'f32'\n"
        'struct<N: f32> Box { v: array<u8, N>; }\n'
        '          ^\n',
    ),
    'view_in_struct': (
        {'t.lidl': H + 'struct A { s: string_view; }\n'},
        "t.lidl:2:15: error: borrowed view 'string_view' is only allowed as a procedure parameter, not in a data type\n"
        'struct A { s: string_view; }\n'
        '              ^\n',
    ),
    'span_in_struct': (
        {'t.lidl': H + 'struct A { s: span<u8>; }\n'},
        "t.lidl:2:15: error: borrowed view 'span<u8>' is only allowed as a procedure parameter, not in a data type\n"
        'struct A { s: span<u8>; }\n'
        '              ^\n',
    ),
    'view_nested_in_param': (
        {'t.lidl': H + 'service S { f(x: optional<string_view>) -> void; }\n'},
        "t.lidl:2:27: error: borrowed view 'string_view' cannot be nested inside another type; views are only allowed as whole procedure parameters\n"
        'service S { f(x: optional<string_view>) -> void; }\n'
        '                          ^\n',
    ),
    'view_as_result': (
        {'t.lidl': H + 'service S { f() -> string_view; }\n'},
        "t.lidl:2:20: error: borrowed view 'string_view' cannot be a result (the callee's storage does not outlive the call); return an owned type such as 'string'\n"
        'service S { f() -> string_view; }\n'
        '                   ^\n',
    ),
    'span_of_string': (
        {'t.lidl': H + 'service S { f(x: span<string>) -> void; }\n'},
        "t.lidl:2:23: error: span element type 'string' has no fixed layout; use a scalar, enum, array or a struct of those (or vector<T>)\n"
        'service S { f(x: span<string>) -> void; }\n'
        '                      ^\n',
    ),
    'span_of_struct_with_bytes': (
        {'t.lidl': H + 'struct A { b: bytes; }\nservice S { f(x: span<A>) -> void; }\n'},
        "t.lidl:3:23: error: span element type 't.A' has no fixed layout; use a scalar, enum, array or a struct of those (or vector<T>)\n"
        'service S { f(x: span<A>) -> void; }\n'
        '                      ^\n',
    ),
    'void_field': (
        {'t.lidl': H + 'struct A { x: void; }\n'},
        "t.lidl:2:15: error: 'void' is only allowed as a procedure result\n"
        'struct A { x: void; }\n'
        '              ^\n',
    ),
    'void_param': (
        {'t.lidl': H + 'service S { f(x: void) -> void; }\n'},
        "t.lidl:2:18: error: 'void' is only allowed as a procedure result\n"
        'service S { f(x: void) -> void; }\n'
        '                 ^\n',
    ),
    'void_in_vector_result': (
        {'t.lidl': H + 'service S { f() -> vector<void>; }\n'},
        "t.lidl:2:27: error: 'void' is only allowed as a procedure result\n"
        'service S { f() -> vector<void>; }\n'
        '                          ^\n',
    ),
    'reserved_cpp_field': (
        {'t.lidl': H + 'struct A { class: u8; }\n'},
        "t.lidl:2:12: error: field 'class' is a reserved word (a C++ keyword)\n"
        'struct A { class: u8; }\n'
        '           ^\n',
    ),
    'reserved_python_field': (
        {'t.lidl': H + 'struct A { lambda: u8; }\n'},
        "t.lidl:2:12: error: field 'lambda' is a reserved word (a Python keyword)\n"
        'struct A { lambda: u8; }\n'
        '           ^\n',
    ),
    'reserved_lidl_keyword_field': (
        {'t.lidl': H + 'struct A { service: u8; }\n'},
        "t.lidl:2:12: error: field 'service' is a reserved word (a lidl keyword)\n"
        'struct A { service: u8; }\n'
        '           ^\n',
    ),
    'reserved_builtin_type_name': (
        {'t.lidl': H + 'struct u8 { x: u8; }\n'},
        "t.lidl:2:8: error: struct 'u8' is a reserved word (a builtin type)\n"
        'struct u8 { x: u8; }\n'
        '       ^\n',
    ),
    'reserved_underscore': (
        {'t.lidl': H + 'struct A { _x: u8; }\n'},
        "t.lidl:2:12: error: field '_x' is a reserved word (names starting with '_' are reserved for generated code)\n"
        'struct A { _x: u8; }\n'
        '           ^\n',
    ),
    'reserved_enum_value': (
        {'t.lidl': H + 'enum E { None, other }\n'},
        "t.lidl:2:10: error: enum value 'None' is a reserved word (a Python keyword)\n"
        'enum E { None, other }\n'
        '         ^\n',
    ),
    'reserved_namespace': (
        {'t.lidl': 'namespace app.class;\nstruct A { x: u8; }\n'},
        "t.lidl:1:11: error: namespace component 'class' is a reserved word (a C++ keyword)\n"
        'namespace app.class;\n'
        '          ^\n',
    ),
    'reserved_procedure': (
        {'t.lidl': H + 'service S { delete() -> void; }\n'},
        "t.lidl:2:13: error: procedure 'delete' is a reserved word (a C++ keyword)\n"
        'service S { delete() -> void; }\n'
        '            ^\n',
    ),
    'reserved_param': (
        {'t.lidl': H + 'service S { f(new: u8) -> void; }\n'},
        "t.lidl:2:15: error: parameter 'new' is a reserved word (a C++ keyword)\n"
        'service S { f(new: u8) -> void; }\n'
        '              ^\n',
    ),
    'recursive_struct': (
        {'t.lidl': H + 'struct Node {\n  value: u32;\n  next: Node;\n}\n'},
        "t.lidl:4:3: error: type 't.Node' contains itself (t.Node -> t.Node); break the cycle with vector<...>\n"
        '  next: Node;\n'
        '  ^\n',
    ),
    'recursive_via_optional': (
        {'t.lidl': H + 'struct Node { next: optional<Node>; }\n'},
        "t.lidl:2:15: error: type 't.Node' contains itself (t.Node -> t.Node); break the cycle with vector<...>\n"
        'struct Node { next: optional<Node>; }\n'
        '              ^\n',
    ),
    'recursive_via_array': (
        {'t.lidl': H + 'struct Node { kids: array<Node, 2>; }\n'},
        "t.lidl:2:15: error: type 't.Node' contains itself (t.Node -> t.Node); break the cycle with vector<...>\n"
        'struct Node { kids: array<Node, 2>; }\n'
        '              ^\n',
    ),
    'mutual_recursion': (
        {'t.lidl': H + 'struct A { b: B; }\nstruct B { a: A; }\n'},
        "t.lidl:2:12: error: type 't.A' contains itself (t.A -> t.B -> t.A); break the cycle with vector<...>\n"
        'struct A { b: B; }\n'
        '           ^\n',
    ),
    'recursive_via_union': (
        {'t.lidl': H + 'union Expr { lit: i64; add: Add; }\nstruct Add { l: Expr; r: Expr; }\n'},
        "t.lidl:2:24: error: type 't.Expr' contains itself (t.Expr -> t.Add -> t.Expr); break the cycle with vector<...>\n"
        'union Expr { lit: i64; add: Add; }\n'
        '                       ^\n',
    ),
    'recursive_via_generic': (
        {'t.lidl': H + 'struct<T> Box { v: T; }\nstruct A { b: Box<A>; }\n'},
        "t.lidl:3:12: error: type 't.A' contains itself (t.A -> t.A); break the cycle with vector<...>\n"
        'struct A { b: Box<A>; }\n'
        '           ^\n',
    ),
    'unknown_attribute': (
        {'t.lidl': H + 'service S {\n  @retry\n  f() -> void;\n}\n'},
        "t.lidl:3:3: error: unknown attribute '@retry' (known: @idempotent)\n"
        '  @retry\n'
        '  ^\n',
    ),
    'duplicate_attribute': (
        {'t.lidl': H + 'service S { @idempotent @idempotent f() -> void; }\n'},
        "t.lidl:2:25: error: duplicate attribute '@idempotent'\n"
        'service S { @idempotent @idempotent f() -> void; }\n'
        '                        ^\n',
    ),
    'attribute_with_args': (
        {'t.lidl': H + 'service S { @idempotent(3) f() -> void; }\n'},
        "t.lidl:2:13: error: attribute '@idempotent' takes no arguments\n"
        'service S { @idempotent(3) f() -> void; }\n'
        '            ^\n',
    ),
    'several_errors_one_run': (
        {'t.lidl': H + 'struct A {\n  x: Unknown;\n  y: vector<u8, u8>;\n}\nenum E : u8 { a = 999 }\nservice S { f() -> string_view; }\n'},
        "t.lidl:3:6: error: unknown type 'Unknown'\n"
        '  x: Unknown;\n'
        '     ^\n'
        "t.lidl:4:6: error: 'vector' takes 1 type argument, got 2 (write 'vector<T>')\n"
        '  y: vector<u8, u8>;\n'
        '     ^\n'
        't.lidl:6:19: error: enum value 999 does not fit in u8 (0..255)\n'
        'enum E : u8 { a = 999 }\n'
        '                  ^\n'
        "t.lidl:7:20: error: borrowed view 'string_view' cannot be a result (the callee's storage does not outlive the call); return an owned type such as 'string'\n"
        'service S { f() -> string_view; }\n'
        '                   ^\n',
    ),
    'several_syntax_errors': (
        {'t.lidl': H + 'struct A { x u8; }\nstruct B { y: u8; }\nenum C { a = 1 b }\nservice S {\n  f() -> ;\n}\n'},
        "t.lidl:2:14: error: unexpected name 'u8', expected ':'\n"
        'struct A { x u8; }\n'
        '             ^\n'
        "t.lidl:4:16: error: unexpected name 'b', expected ',' or '}'\n"
        'enum C { a = 1 b }\n'
        '               ^\n'
        "t.lidl:6:10: error: unexpected ';', expected a name\n"
        '  f() -> ;\n'
        '         ^\n',
    ),
    'name_collides_with_view_class': (
        {'t.lidl': H + 'struct Frame { x: u8; }\nstruct FrameView { y: u8; }\n'},
        "t.lidl:3:8: error: 'FrameView' collides with the name lidl generates for 't.Frame' (its in-place view class); rename one of them\n"
        'struct FrameView { y: u8; }\n'
        '       ^\n',
    ),
    'name_collides_with_service_class': (
        {'t.lidl': H + 'service Log { f() -> void; }\nstruct LogRpcClient { y: u8; }\nstruct Log_f_Args { z: u8; }\n'},
        "t.lidl:3:8: error: 'LogRpcClient' collides with the name lidl generates for 't.Log' (its RPC client); rename one of them\n"
        'struct LogRpcClient { y: u8; }\n'
        '       ^\n'
        "t.lidl:4:8: error: 'Log_f_Args' collides with the name lidl generates for 't.Log' (procedure f's args struct); rename one of them\n"
        'struct Log_f_Args { z: u8; }\n'
        '       ^\n',
    ),
    'name_collides_with_generated_function': (
        {'t.lidl': H + 'struct dispatch { y: u8; }\n'},
        "t.lidl:2:8: error: 'dispatch' collides with the C++ dispatch functions in generated code\n"
        'struct dispatch { y: u8; }\n'
        '       ^\n',
    ),
    'member_collides_with_generated_member': (
        {'t.lidl': H + 'struct A { to_owned: u8; }\nunion U { kind: u8; }\nservice S {\n  f() -> void;\n  f_sync() -> void;\n  last_status() -> u8;\n}\n'},
        "t.lidl:2:12: error: field 'to_owned' collides with a member lidl generates for 't.A'; rename it\n"
        'struct A { to_owned: u8; }\n'
        '           ^\n'
        "t.lidl:3:11: error: union variant 'kind' collides with a member lidl generates for 't.U'; rename it\n"
        'union U { kind: u8; }\n'
        '          ^\n'
        "t.lidl:6:3: error: procedure 'f_sync' collides with a member lidl generates for 't.S'; rename it\n"
        '  f_sync() -> void;\n'
        '  ^\n'
        "t.lidl:7:3: error: procedure 'last_status' collides with a member lidl generates for 't.S'; rename it\n"
        '  last_status() -> u8;\n'
        '  ^\n',
    ),
    'python_module_and_self': (
        {'t.lidl': 'namespace a;\nstruct typing { x: u8; }\nservice S { f(self: u8) -> void; }\n'},
        "t.lidl:2:8: error: 'typing' collides with a module the generated Python imports in generated code\n"
        'struct typing { x: u8; }\n'
        '       ^\n'
        "t.lidl:3:15: error: parameter 'self' is a reserved word (the first parameter of every generated Python method)\n"
        'service S { f(self: u8) -> void; }\n'
        '              ^\n',
    ),
    'type_nesting_too_deep': (
        {'t.lidl': H + 'struct A { x: optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<u8>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>; }\n'},
        't.lidl:2:599: error: type arguments nested more than 64 levels deep\n'
        'struct A { x: optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<optional<u8>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>; }\n'
        '                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                      ^\n',
    ),
    'tab_indented_caret': (
        {'t.lidl': H + 'struct A {\n\tx:\tNope;\n}\n'},
        "t.lidl:3:5: error: unknown type 'Nope'\n"
        '\tx:\tNope;\n'
        '\t  \t^\n',
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_diagnostic(name, tmp_path, monkeypatch):
    files, expected = CASES[name]
    for path, text in files.items():
        (tmp_path / path).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LidlError) as info:
        check_files([next(iter(files))])
    assert info.value.render() == expected


def test_case_count():
    assert len(CASES) >= 40


def _render(name: str) -> str:
    """What the checker prints for a case today (to author a new case: add it, then --show it)."""
    import tempfile

    files, _ = CASES[name]
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as d:
        for path, text in files.items():
            with open(os.path.join(d, path), "w", encoding="utf-8") as fh:
                fh.write(text)
        os.chdir(d)
        try:
            check_files([next(iter(files))])
            return "(no error)\n"
        except LidlError as err:
            return err.render()
        finally:
            os.chdir(cwd)


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--show":
        sys.stdout.write(_render(sys.argv[2]))
        raise SystemExit(0)
    raise SystemExit(pytest.main([__file__, "-q"]))

