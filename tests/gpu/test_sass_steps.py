"""tests/gpu/sass_steps.py's count on a hand-written SASS listing (no cuobjdump needed):
the step loop is the widest backward branch; the step is the longest path through it
that calls no slow-path subroutine."""
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
    code = sass_steps.parse(LISTING)["_Z11train_fixedILi7ELi2EEv9aek_batchPKjj"]
    first, last = sass_steps.step_loop(code)
    assert (code[first][0], code[last][0]) == (0x30, 0xF0)  # not the small loop at 0x10..0x20
    assert last - first + 1 == 13
    # 0x30, 0x40, then the CALL-free side 0x80..0xa0, 0xb0, the fall-through 0xc0, 0xd0, 0xe0, 0xf0
    assert sass_steps.longest_call_free_path(code, first, last) == 10
    assert sass_steps.demangle("_Z11train_fixedILi7ELi2EEv9aek_batchPKjj") == "train_fixed<7,2>"
    assert sass_steps.demangle("_Z11train_fixedIfLi7ELi2EEv9aek_batchPKjj") == "train_fixed<7,2>"
    assert sass_steps.demangle("_Z11train_fixedIdLi7ELi2EEv9aek_batchPKjj") == "train_fixed<7,2> float64"
