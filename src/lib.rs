//! ipcamd
