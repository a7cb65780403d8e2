/* The kernel's receive path on an interface tern owns, cut (tcx.c). */
#ifndef TERN_LINK_TCX_H
#define TERN_LINK_TCX_H

/* Attach a program that drops every frame at the interface's ingress
 * hook, after packet sockets have their copies.  Returns the link's file
 * descriptor (closing it detaches the program), or -1 with errno (EPERM
 * without CAP_BPF, EINVAL before Linux 6.6). */
int tn_tcx_drop_ingress(int ifindex);

#endif
