// executor/: see ../DESIGN.md ("The path of a build"). The public interface of
// this module is declared here as the module is built; nothing else in executor/
// is visible to other modules.
#pragma once
