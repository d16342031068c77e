# Yun java buildpack (profile.d/java.sh): memory flags in JAVA_OPTS from this instance's
# MEMORY_LIMIT, computed at each start so the droplet fits whatever memory the app gets.
#
# Left alone, a JVM takes a quarter of the container's memory for its heap and sizes the rest as
# it likes. Cloud Foundry's memory calculator splits the limit instead: metaspace from the number
# of classes, a 240M code cache, 250 threads of 1M, the heap gets what is left. Simplified here,
# of MEMORY_LIMIT:
#   -Xmx                       3/4   the heap, the app's objects
#   -XX:MaxMetaspaceSize       1/8   class metadata (at least 32M)
#   -XX:ReservedCodeCacheSize  1/16  JIT-compiled code (16M to 240M, the JVM's own default)
#   -Xss1M                           each thread's stack (CF's default; the JVM's is 2M on arm64)
# and the last 1/16 is for thread stacks, GC structures and the JVM itself. Plus
# -XX:+ExitOnOutOfMemoryError: a JVM out of heap exits and the platform restarts it (CF's jvmkill
# agent does the same). A flag already in JAVA_OPTS (the app's environment) is left to it.

yun_java_options() {
  local limit=${MEMORY_LIMIT:-} number mb opts="" given=" ${JAVA_OPTS:-} "
  limit=${limit%[bB]}
  number=${limit%[kKmMgG]}
  if [[ $number =~ ^[0-9]+$ ]]; then
    case "$limit" in
      *[gG]) mb=$((number * 1024)) ;;
      *[kK]) mb=$((number / 1024)) ;;
      *) mb=$number ;;
    esac
  fi
  if [ -n "${mb:-}" ] && [ "$mb" -gt 0 ]; then
    local heap=$((mb * 3 / 4)) metaspace=$((mb / 8)) code=$((mb / 16))
    [ "$metaspace" -lt 32 ] && metaspace=32
    [ "$code" -lt 16 ] && code=16
    [ "$code" -gt 240 ] && code=240
    case "$given" in
      *" -Xmx"* | *" -XX:MaxRAM"*) ;;
      *) opts+=" -Xmx${heap}M" ;;
    esac
    case "$given" in
      *" -XX:MaxMetaspaceSize="*) ;;
      *) opts+=" -XX:MaxMetaspaceSize=${metaspace}M" ;;
    esac
    case "$given" in
      *" -XX:ReservedCodeCacheSize="*) ;;
      *) opts+=" -XX:ReservedCodeCacheSize=${code}M" ;;
    esac
    case "$given" in
      *" -Xss"* | *" -XX:ThreadStackSize="*) ;;
      *) opts+=" -Xss1M" ;;
    esac
  fi
  case "$given" in
    *OutOfMemoryError*) ;;
    *) opts+=" -XX:+ExitOnOutOfMemoryError" ;;
  esac
  opts="${opts# } ${JAVA_OPTS:-}"
  printf '%s' "${opts% }"
}
JAVA_OPTS=$(yun_java_options)
export JAVA_OPTS
unset -f yun_java_options

if [ -z "${JAVA_HOME:-}" ] && yun_java=$(command -v java); then
  yun_java=$(readlink -f "$yun_java")
  export JAVA_HOME=${yun_java%/bin/java}
  unset yun_java
fi
