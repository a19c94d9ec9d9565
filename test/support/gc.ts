// A full garbage collection on demand, for tests of what must survive one (weakly held timers
// and signals). `--expose-gc` set at run time makes `gc` visible to contexts created after it.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

export function forceGc(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}
