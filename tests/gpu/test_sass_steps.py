"""tests/gpu/sass_steps.py's count on hand-written SASS listings (no cuobjdump needed):
the step loop is the widest backward branch; the step is the longest path through it
that calls no slow-path subroutine; the common step also keeps out of the blocks whose
code comes, by its source lines, from the call of the checks."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sass_steps  # noqa: E402

LISTING = """
        Function : _Z11train_fixedILi7ELi2EEv9aek_batchPKjj
        /*0000*/                   MOV R1, c[0x0][0x28] ;
        /*0010*/                   IADD3 R2, R2, 0x1, RZ ;
        /*0020*/              @P0 BRA 0x10 ;
        /*0030*/                   FADD R3, R3, R4 ;
        /*0040*/              @!P1 BRA 0x80 ;
        /*0050*/                   FMUL R5, R5, R5 ;
        /*0060*/                   CALL.REL.NOINC 0x200 ;
        /*0070*/                   BRA 0xb0 ;
        /*0080*/                   FFMA R6, R6, R6, R6 ;
        /*0090*/                   FFMA R6, R6, R6, R6 ;
        /*00a0*/                   FFMA R6, R6, R6, R6 ;
        /*00b0*/              @P2 BRA 0xe0 ;
        /*00c0*/                   FADD R7, R7, R7 ;
        /*00d0*/                   FADD R7, R7, R7 ;
        /*00e0*/                   ISETP.GE.AND P3, PT, R2, R8, PT ;
        /*00f0*/              @!P3 BRA 0x30 ;
        /*0100*/                   EXIT ;
"""


def test_loop_and_longest_call_free_path():
    code = sass_steps.parse(LISTING)["_Z11train_fixedILi7ELi2EEv9aek_batchPKjj"].code
    first, last = sass_steps.step_loop(code)
    assert (code[first][0], code[last][0]) == (0x30, 0xF0)  # not the small loop at 0x10..0x20
    assert last - first + 1 == 13
    # 0x30, 0x40, then the CALL-free side 0x80..0xa0, 0xb0, the fall-through 0xc0, 0xd0, 0xe0, 0xf0
    assert sass_steps.longest_call_free_path(code, first, last) == 10
    assert sass_steps.demangle("_Z11train_fixedILi7ELi2EEv9aek_batchPKjj") == "train_fixed<7,2>"
    assert sass_steps.demangle("_Z11train_fixedIfLi7ELi2EEv9aek_batchPKjj") == "train_fixed<7,2>"
    assert sass_steps.demangle("_Z11train_fixedIdLi7ELi2EEv9aek_batchPKjj") == "train_fixed<7,2> float64"


def nvdisasm_listing(source):
    """nvdisasm -gi's form: labels, branches to labels, and source lines (the block at
    0x80..0xa0 inlined at line 2 of `source`, the checks' call, one of its instructions
    merged with code from line 1; the block at 0xc0..0xd0 from line 3)."""
    def at(line, inlined=None):  # one comment per inline level, innermost first
        if not inlined:
            return '\t//## File "%s", line %d\n' % (source, line)
        return '\t//## File "%s", line %d inlined at "%s", line %d\n' % (source, line, source, inlined) + at(inlined)

    return (
        "//--------------------- .text._Z11train_fixedILi7ELi2EEv9aek_batchPKjj --------------------------\n"
        ".text._Z11train_fixedILi7ELi2EEv9aek_batchPKjj:\n"
        + at(1) +
        "        /*0000*/                   MOV R1, c[0x0][0x28] ;\n"
        ".L_x_1:\n"
        "        /*0010*/                   FADD R3, R3, R4 ;\n"
        "        /*0020*/              @!P1 BRA `(.L_x_2) ;\n"
        + at(9, 2) +
        "        /*0030*/                   FMUL R5, R5, R5 ;\n"
        "        /*0040*/                   FMUL R5, R5, R5 ;\n"
        + at(1) +
        "        /*0050*/                   FMUL R5, R5, R5 ;\n"
        + at(9, 2) +
        "        /*0060*/                   FMUL R5, R5, R5 ;\n"
        "        /*0070*/                   FMUL R5, R5, R5 ;\n"
        ".L_x_2:\n"
        + at(3) +
        "        /*0080*/                   FFMA R6, R6, R6, R6 ;\n"
        "        /*0090*/              @!P3 BRA `(.L_x_1) ;\n"
        "        /*00a0*/                   EXIT ;\n")


def test_common_path_keeps_out_of_the_checks(tmp_path):
    source = tmp_path / "loop.inc"
    source.write_text("line 1\n        next = AE_NAME(ae_step_checks)(params, buf);\nline 3\n")
    kernel = sass_steps.parse(nvdisasm_listing(str(source)))["_Z11train_fixedILi7ELi2EEv9aek_batchPKjj"]
    code = kernel.code
    assert [c[0] for c in code if c[2] == [(str(source), 9), (str(source), 2)]] == [0x30, 0x40, 0x60, 0x70]
    first, last = sass_steps.step_loop(code)
    assert (code[first][0], code[last][0]) == (0x10, 0x90)  # the label's branch resolved to its address
    assert sass_steps.longest_call_free_path(code, first, last) == 9  # 0x10..0x90 through the checks
    rare = sass_steps.rare_blocks(code, first, last, r"ae_step_checks\)?\(")
    assert sorted(code[k][0] for k in rare) == [0x30, 0x40, 0x50, 0x60, 0x70]  # the merged 0x50 too
    assert sass_steps.longest_call_free_path(code, first, last, rare) == 4  # 0x10, 0x20, 0x80, 0x90
