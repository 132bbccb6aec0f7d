/* OpenMP queries that compile to constants without OpenMP. */
#ifndef FM_THREADS_H
#define FM_THREADS_H

int fm_thread_id(void);   /* this thread's number in its team */
int fm_team_size(void);   /* threads in the current team */

#endif
