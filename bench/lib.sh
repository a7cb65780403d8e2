# Shared by the bench/*.sh scripts: the interop helpers (namespaces, veths,
# addresses; tests/interop/lib.sh), an A - R - B path through Linux, and
# the small number helpers the tables are built with.  Source it from the
# repository's top directory.
. tests/interop/lib.sh

# veth_router A R B IFA IFR0 IFR1 IFB ADDR_A/N ADDR_R0/N ADDR_R1/N ADDR_B/N :
# namespaces A, R, B (made by ns_new) joined by two veth pairs, A's IFA to
# R's IFR0 and R's IFR1 to B's IFB, with the addresses given; A and B route
# everything through R, which forwards.
veth_router() {
	local a=$1 r=$2 b=$3 ifa=$4 ifr0=$5 ifr1=$6 ifb=$7
	ip -n "$a" link add "$ifa" type veth peer name "$ifr0" netns "$r" || fail "veth $ifa"
	ip -n "$r" link add "$ifr1" type veth peer name "$ifb" netns "$b" || fail "veth $ifr1"
	linux_addr "$a" "$ifa" "$8"
	linux_addr "$r" "$ifr0" "$9"
	linux_addr "$r" "$ifr1" "${10}"
	linux_addr "$b" "$ifb" "${11}"
	ip -n "$a" route add default via "${9%/*}"
	ip -n "$b" route add default via "${10%/*}"
	ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
}

# field NAME "k=v k=v ..." : the value of NAME
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -1; }
# stats V... : "median min max"
stats() {
	printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1}
		END {m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2;
		     printf "%.10g %.10g %.10g", m, a[1], a[NR]}'
}
median() { stats "$@" | cut -d' ' -f1; }
fmt() { awk -v v="$1" -v p="$2" 'BEGIN {printf "%." p "f", v}'; }
kpps() { awk -v v="$1" 'BEGIN {printf "%.1f", v / 1000}'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.6f", b ? a / b : 0}'; }
# vals NAME LINE... : NAME's value in each line
vals() { local n=$1 l; shift; for l in "$@"; do field "$n" "$l"; done; }
