//! Kurento's hubs (Composite, Dispatcher, DispatcherOneToMany and their HubPorts) will live
//! here: elements that mix or switch several inputs.
