//! VFIO (placeholder until the vfio issue).
