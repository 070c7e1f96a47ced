/*
 * libreprogram_mkl_amd.so: one function, the whole library.
 *
 * oneMKL (bundled inside libtorch_cpu.so) asks mkl_serv_intel_cpu_true() whether it runs on an Intel CPU and, when the
 * answer is no, dispatches its generic code path even where the CPU has AVX2 or AVX-512. libtorch_cpu.so calls the
 * function through its symbol table, so a library loaded with RTLD_GLOBAL before libtorch answers instead of MKL's
 * own definition. MKL still checks the CPU's instruction sets itself; only the vendor test is answered.
 *
 * Built without libc (-nostdlib) so that it loads on any Linux x86-64 libc and has no version requirements:
 *   cc -O2 -shared -fPIC -nostdlib -Wl,-z,noexecstack -Wl,--build-id=none -s -o libreprogram_mkl_amd.so mkl_intel_cpu_true.c
 * The build compiles it when a C compiler is present (Reprogram.csproj); prebuilt/linux-x64/ holds the same build for
 * machines without one. Reprogram.Runtime.MklOnAmd decides when to load it.
 */
int mkl_serv_intel_cpu_true(void) { return 1; }
