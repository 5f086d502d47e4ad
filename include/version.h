/* version.h - the meshinject version, one place. */
#ifndef MESHINJECT_VERSION_H
#define MESHINJECT_VERSION_H

#define MESHINJECT_VERSION "0.1.0"

#endif
