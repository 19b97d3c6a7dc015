/* SPDX-License-Identifier: MIT */
/* The program of each layer check (harness/CMakeLists.txt): it is only linked, with one
 * layer's objects and those of the layers below it, so that a symbol of a higher layer used
 * by a lower one is an undefined reference and the build fails. Running it does nothing. */
int main(void) { return 0; }
