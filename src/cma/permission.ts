// Why cross-memory attach to a process is refused, read from /proc: the
// kernel allows it when the caller may ptrace the target
// (PTRACE_MODE_ATTACH_REALCREDS): same uid and no privilege gained by the
// target, or CAP_SYS_PTRACE in the target's user namespace; Yama and seccomp
// may refuse it further.
import { readFileSync, readlinkSync } from 'node:fs';

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function statusField(status: string | undefined, field: string): string | undefined {
  const m = status?.match(new RegExp(`^${field}:\\s*(.*)$`, 'm'));
  return m?.[1];
}

const CAP_SYS_PTRACE = 19n;

/** Whether this process has CAP_SYS_PTRACE in its effective set. */
export function hasPtraceCapability(): boolean {
  const eff = statusField(read('/proc/self/status'), 'CapEff');
  return eff !== undefined && ((BigInt(`0x${eff}`) >> CAP_SYS_PTRACE) & 1n) === 1n;
}

/** A sentence naming the missing permission and what the user can do. */
export function explainRefusal(pid: number): string {
  const reasons: string[] = [];
  const self = read('/proc/self/status');
  const other = read(`/proc/${pid}/status`);
  const myUid = statusField(self, 'Uid')?.split(/\s+/)[0];
  const theirUids = statusField(other, 'Uid')?.split(/\s+/);
  const capable = hasPtraceCapability();
  if (theirUids && myUid !== undefined && theirUids.some((u) => u !== myUid) && !capable) {
    reasons.push(`process ${pid} runs as uid ${theirUids[0]} and this process as uid ${myUid} without CAP_SYS_PTRACE: run both as the same user, or grant CAP_SYS_PTRACE to this process`);
  }
  try {
    if (readlinkSync('/proc/self/ns/user') !== readlinkSync(`/proc/${pid}/ns/user`)) {
      reasons.push(`process ${pid} is in another user namespace: cross-memory attach needs CAP_SYS_PTRACE in the target's namespace, so run both in the same container`);
    }
  } catch {
    // not readable: other reasons below still apply
  }
  const yama = read('/proc/sys/kernel/yama/ptrace_scope')?.trim();
  if (yama !== undefined && yama !== '0') {
    const what = yama === '1' ? 'only a parent may attach to its descendants' : yama === '2' ? 'only CAP_SYS_PTRACE may attach' : 'attaching is disabled';
    reasons.push(`Yama ptrace_scope is ${yama} (${what}): set it to 0 with 'sysctl kernel.yama.ptrace_scope=0', or let the target allow this process with prctl(PR_SET_PTRACER)`);
  }
  if (statusField(self, 'Seccomp') === '2') {
    reasons.push('a seccomp filter is active on this process (as in many containers): allow process_vm_readv/process_vm_writev in its profile, or grant CAP_SYS_PTRACE');
  }
  if (other !== undefined && statusField(other, 'Seccomp') === '2' && reasons.length === 0) {
    reasons.push(`process ${pid} may have raised its privileges (a set-uid program or a non-dumpable process): the kernel refuses to attach to it without CAP_SYS_PTRACE`);
  }
  if (reasons.length === 0) {
    reasons.push(`the kernel refused ptrace access to process ${pid} (it may be non-dumpable or have gained privileges): run both as the same user, or grant CAP_SYS_PTRACE`);
  }
  return reasons.join('; ');
}
