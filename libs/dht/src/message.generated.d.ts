import type { Codec, DecodeOptions } from 'protons-runtime';
import type { Uint8ArrayList } from 'uint8arraylist';
export interface Record {
    key?: Uint8Array<ArrayBuffer>;
    value?: Uint8Array<ArrayBuffer>;
    author?: Uint8Array<ArrayBuffer>;
    signature?: Uint8Array<ArrayBuffer>;
    timeReceived?: string;
}
export declare namespace Record {
    const codec: () => Codec<Record>;
    interface RecordKeyFieldEvent {
        field: '$.key';
        value: Uint8Array<ArrayBuffer>;
    }
    interface RecordValueFieldEvent {
        field: '$.value';
        value: Uint8Array<ArrayBuffer>;
    }
    interface RecordAuthorFieldEvent {
        field: '$.author';
        value: Uint8Array<ArrayBuffer>;
    }
    interface RecordSignatureFieldEvent {
        field: '$.signature';
        value: Uint8Array<ArrayBuffer>;
    }
    interface RecordTimeReceivedFieldEvent {
        field: '$.timeReceived';
        value: string;
    }
    function encode(obj: Partial<Record>): Uint8Array<ArrayBuffer>;
    function decode(buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Record>): Record;
    function stream(buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Record>): Generator<RecordKeyFieldEvent | RecordValueFieldEvent | RecordAuthorFieldEvent | RecordSignatureFieldEvent | RecordTimeReceivedFieldEvent>;
}
export declare enum MessageType {
    PUT_VALUE = "PUT_VALUE",
    GET_VALUE = "GET_VALUE",
    ADD_PROVIDER = "ADD_PROVIDER",
    GET_PROVIDERS = "GET_PROVIDERS",
    FIND_NODE = "FIND_NODE",
    PING = "PING"
}
export declare namespace MessageType {
    const codec: () => Codec<MessageType>;
}
export declare enum ConnectionType {
    NOT_CONNECTED = "NOT_CONNECTED",
    CONNECTED = "CONNECTED",
    CAN_CONNECT = "CAN_CONNECT",
    CANNOT_CONNECT = "CANNOT_CONNECT"
}
export declare namespace ConnectionType {
    const codec: () => Codec<ConnectionType>;
}
export interface PeerInfo {
    id: Uint8Array<ArrayBuffer>;
    multiaddrs: Uint8Array<ArrayBuffer>[];
    connection?: ConnectionType;
}
export declare namespace PeerInfo {
    const codec: () => Codec<PeerInfo>;
    interface PeerInfoIdFieldEvent {
        field: '$.id';
        value: Uint8Array<ArrayBuffer>;
    }
    interface PeerInfoMultiaddrsFieldEvent {
        field: '$.multiaddrs[]';
        index: number;
        value: Uint8Array<ArrayBuffer>;
    }
    interface PeerInfoConnectionFieldEvent {
        field: '$.connection';
        value: ConnectionType;
    }
    function encode(obj: Partial<PeerInfo>): Uint8Array<ArrayBuffer>;
    function decode(buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PeerInfo>): PeerInfo;
    function stream(buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PeerInfo>): Generator<PeerInfoIdFieldEvent | PeerInfoMultiaddrsFieldEvent | PeerInfoConnectionFieldEvent>;
}
export interface Message {
    type: MessageType;
    clusterLevel?: number;
    key?: Uint8Array<ArrayBuffer>;
    record?: Uint8Array<ArrayBuffer>;
    closer: PeerInfo[];
    providers: PeerInfo[];
}
export declare namespace Message {
    const codec: () => Codec<Message>;
    interface MessageTypeFieldEvent {
        field: '$.type';
        value: MessageType;
    }
    interface MessageClusterLevelFieldEvent {
        field: '$.clusterLevel';
        value: number;
    }
    interface MessageKeyFieldEvent {
        field: '$.key';
        value: Uint8Array<ArrayBuffer>;
    }
    interface MessageRecordFieldEvent {
        field: '$.record';
        value: Uint8Array<ArrayBuffer>;
    }
    interface MessageCloserIdFieldEvent {
        field: '$.closer[].id';
        value: Uint8Array<ArrayBuffer>;
        index: number;
    }
    interface MessageCloserMultiaddrsFieldEvent {
        field: '$.closer[].multiaddrs[]';
        index: number;
        value: Uint8Array<ArrayBuffer>;
    }
    interface MessageCloserConnectionFieldEvent {
        field: '$.closer[].connection';
        value: ConnectionType;
        index: number;
    }
    interface MessageProvidersIdFieldEvent {
        field: '$.providers[].id';
        value: Uint8Array<ArrayBuffer>;
        index: number;
    }
    interface MessageProvidersMultiaddrsFieldEvent {
        field: '$.providers[].multiaddrs[]';
        index: number;
        value: Uint8Array<ArrayBuffer>;
    }
    interface MessageProvidersConnectionFieldEvent {
        field: '$.providers[].connection';
        value: ConnectionType;
        index: number;
    }
    function encode(obj: Partial<Message>): Uint8Array<ArrayBuffer>;
    function decode(buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Message>): Message;
    function stream(buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Message>): Generator<MessageTypeFieldEvent | MessageClusterLevelFieldEvent | MessageKeyFieldEvent | MessageRecordFieldEvent | MessageCloserIdFieldEvent | MessageCloserMultiaddrsFieldEvent | MessageCloserConnectionFieldEvent | MessageProvidersIdFieldEvent | MessageProvidersMultiaddrsFieldEvent | MessageProvidersConnectionFieldEvent>;
}
