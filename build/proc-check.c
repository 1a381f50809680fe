/*
 * The image's entry point, /plb: a few hundred bytes without a C library.
 * A Bun executable reads itself through /proc/self/exe and aborts with a
 * crash report when /proc is not mounted (a container runtime always
 * mounts it; a hand-made chroot may not). This says so in one line and
 * exits 1; otherwise it becomes the real plb (/usr/lib/plb/plb), same
 * arguments, same environment.
 *
 *   gcc -Os -static -nostdlib -fno-stack-protector -fno-pie -no-pie
 *       -o proc-check build/proc-check.c        (x86-64 or aarch64)
 */
#if defined(__x86_64__)
#define SYS_write 1
#define SYS_execve 59
#define SYS_exit 60
#define SYS_faccessat 269
static long sys3(long n, long a, long b, long c) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}
__asm__(".global _start\n_start:\n mov %rsp, %rdi\n and $-16, %rsp\n call start\n hlt\n");
#elif defined(__aarch64__)
#define SYS_write 64
#define SYS_execve 221
#define SYS_exit 93
#define SYS_faccessat 48
static long sys3(long n, long a, long b, long c) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
  return x0;
}
__asm__(".global _start\n_start:\n mov x0, sp\n bl start\n");
#else
#error "x86-64 or aarch64 only"
#endif

#define AT_FDCWD -100
static const char real[] = "/usr/lib/plb/plb";
static const char no_proc[] =
    "plb: /proc is not mounted: plb reads itself through /proc/self/exe (mount it: mount -t proc proc /proc; container runtimes do)\n";
static const char no_exec[] = "plb: cannot run /usr/lib/plb/plb\n";

__attribute__((used, noreturn)) void start(long *sp) {
  long argc = sp[0];
  char **argv = (char **)(sp + 1);
  char **envp = argv + argc + 1;
  if (sys3(SYS_faccessat, AT_FDCWD, (long)"/proc/self/exe", 0) != 0) {
    sys3(SYS_write, 2, (long)no_proc, sizeof no_proc - 1);
    sys3(SYS_exit, 1, 0, 0);
  }
  sys3(SYS_execve, (long)real, (long)argv, (long)envp);
  sys3(SYS_write, 2, (long)no_exec, sizeof no_exec - 1);
  sys3(SYS_exit, 127, 0, 0);
  for (;;) {
  }
}
