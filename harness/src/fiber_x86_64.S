/* SPDX-License-Identifier: MIT */
/* The fiber switch: saves the callee-saved registers of the System V x86-64 ABI on the current
 * stack, stores the stack pointer, loads the other fiber's and restores its registers.
 *
 *   void lg__fiber_swap(void **save_sp, void *load_sp)
 *
 * A new fiber's stack is prepared (fiber.c) so that the first swap into it "returns" into
 * lg__fiber_start with r12 = argument and r13 = entry function. */
        .text
        .globl  lg__fiber_swap
        .hidden lg__fiber_swap
        .type   lg__fiber_swap, @function
lg__fiber_swap:
        .cfi_startproc
        pushq   %rbp
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        movq    %rsp, (%rdi)
        movq    %rsi, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        ret
        .cfi_endproc
        .size   lg__fiber_swap, .-lg__fiber_swap

        .globl  lg__fiber_start
        .hidden lg__fiber_start
        .type   lg__fiber_start, @function
lg__fiber_start:
        .cfi_startproc
        .cfi_undefined rip      /* the bottom of a fiber's stack: unwinders stop here */
        movq    %r12, %rdi
        callq   *%r13           /* never returns */
        ud2
        .cfi_endproc
        .size   lg__fiber_start, .-lg__fiber_start

        .section .note.GNU-stack,"",@progbits
