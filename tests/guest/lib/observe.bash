# tests/guest/lib/observe.bash — looking at a running testpmd from outside:
# its threads and the interrupts the guest kernel took for it
# (loop/61-napi.sh on igb, loop/74-virtio-link.sh, loop/75-virtio-napi.sh).
# Sourced, not run.
#
#   thread_dir PID NAME   the /proc/PID/task directory of PID's thread named
#                         NAME (testpmd names its forwarding cores
#                         fwd-core-N); status 1 if there is none
#   epoll_looks DIR       looks 10 times, 0.5 s apart, at the thread DIR's
#                         wait channel and prints how many found it asleep
#                         in epoll_wait
#   kernel_irqs V DEV     interrupts the guest kernel took on MSI-X vector V
#                         of PCI device DEV (vfio-msix[V](DEV) in
#                         /proc/interrupts, summed over CPUs; empty if the
#                         vector is not set up)

thread_dir() {
    local t
    for t in /proc/"$1"/task/*; do
        [[ $(cat "$t/comm" 2>/dev/null) == "$2" ]] && { echo "$t"; return 0; }
    done
    return 1
}

epoll_looks() {
    local n=0 wchan
    for _ in $(seq 10); do
        wchan=$(cat "$1/wchan" 2>/dev/null)
        [[ $wchan == *epoll* || $wchan == ep_poll* ]] && n=$((n + 1))
        sleep 0.5
    done
    echo "$n"
}

kernel_irqs() {
    awk -v name="vfio-msix[$1]($2)" '$NF == name { s = 0; for (i = 2; i < NF; i++) if ($i ~ /^[0-9]+$/) s += $i; print s }' \
        /proc/interrupts
}
