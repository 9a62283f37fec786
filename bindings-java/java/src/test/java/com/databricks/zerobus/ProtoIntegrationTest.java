package com.databricks.zerobus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.DescriptorProtos.DescriptorProto;
import com.google.protobuf.DescriptorProtos.FieldDescriptorProto;
import com.google.protobuf.DescriptorProtos.FileDescriptorProto;
import com.google.protobuf.Descriptors;
import com.google.protobuf.DynamicMessage;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Proto streams with com.google.protobuf messages, against `zerobus serve`. */
class ProtoIntegrationTest {
    static Serve srv;

    @BeforeAll
    static void start() throws Exception {
        srv = Serve.start();
    }

    @AfterAll
    static void stop() throws Exception {
        if (srv != null) {
            srv.close();
        }
    }

    static Descriptors.Descriptor descriptor() throws Exception {
        DescriptorProto msg = DescriptorProto.newBuilder().setName("Event")
                .addField(FieldDescriptorProto.newBuilder().setName("id").setNumber(1)
                        .setType(FieldDescriptorProto.Type.TYPE_INT64).setLabel(FieldDescriptorProto.Label.LABEL_OPTIONAL))
                .addField(FieldDescriptorProto.newBuilder().setName("text").setNumber(2)
                        .setType(FieldDescriptorProto.Type.TYPE_STRING).setLabel(FieldDescriptorProto.Label.LABEL_OPTIONAL))
                .build();
        FileDescriptorProto file = FileDescriptorProto.newBuilder().setName("event.proto").addMessageType(msg).build();
        return Descriptors.FileDescriptor.buildFrom(file, new Descriptors.FileDescriptor[0]).findMessageTypeByName("Event");
    }

    static DynamicMessage event(Descriptors.Descriptor d, long id) {
        return DynamicMessage.newBuilder(d).setField(d.findFieldByName("id"), id)
                .setField(d.findFieldByName("text"), "event " + id).build();
    }

    @Test
    void protobufMessagesAndBytes() throws Exception {
        Descriptors.Descriptor d = descriptor();
        try (ZerobusSdk sdk = srv.sdk()) {
            ZerobusStream stream = sdk.createProtoStream("main.default.proto_table", d,
                        srv.clientId(),
                        srv.clientSecret(),
                        StreamConfigurationOptions.getDefault()).join();
            assertEquals(RecordType.PROTO, stream.getRecordType());
            assertEquals(0, stream.ingestRecordOffset(event(d, 0)));
            assertEquals(1, stream.ingestRecordOffset(event(d, 1).toByteArray()));
            assertEquals(Optional.of(2L), stream.ingestRecordsOffset(List.of(event(d, 2), event(d, 3))));
            stream.ingestRecordNowait(event(d, 4));
            stream.flush();
            assertEquals(3, stream.getMetrics().lastAckedOffset());
            // Bytes that do not decode as the message are rejected by the library or the server.
            ZerobusException e = assertThrows(ZerobusException.class, () -> {
                stream.ingestRecordOffset(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff});
                stream.flush();
            });
            assertEquals(true, e.getCode() == ErrorCode.INVALID_RECORD || e.getCode() == ErrorCode.INVALID_ARGUMENT,
                    e.toString());
            // The stream failed for good: close reports it, the bad call is what is left unacked.
            ZerobusException closed = assertThrows(ZerobusException.class, stream::close);
            assertEquals(e.getCode(), closed.getCode());
            assertEquals(true, stream.isClosed());
            assertEquals(1, stream.getUnackedBatches().size());
            assertEquals(3, stream.getUnackedRecords().get(0).length);
        }
    }
}
